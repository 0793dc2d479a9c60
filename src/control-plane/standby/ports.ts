/** What the candidate loop drives: the voters, the VIP itself, and the user's notify hooks. */
import type { VoteReply, VoteRequest } from './types.js';

export interface VoterPort {
  /** Rejects when the voter cannot be reached within timeoutMs. */
  ask(voter: string, req: VoteRequest, timeoutMs: number): Promise<VoteReply>;
}

export interface VipPort {
  /** Start serving the VIP (bind it; on real networks add it to the interface and announce it). */
  acquire(): Promise<void>;
  /** Stop serving it: no new connection reaches this lb on the VIP once this resolves. */
  release(): Promise<void>;
  /** Re-announce the VIP to the network (gratuitous ARP / neighbour advertisement); no-op on one machine. */
  announce(): Promise<void>;
  /** One phrase for logs: "127.0.0.1 (bound locally)" or "10.0.0.100 on eth0". */
  describe(): string;
}

export type HookEvent = 'active' | 'passive' | 'fault';

export interface HookPort {
  run(event: HookEvent, reason: string): void;
}
