/**
 * Reaching the voters: this node's own vote book in process, the others over their agent APIs
 * (`POST /standby/vote`, keep-alive connections through fetch's pool).
 */
import type { VoteBook } from './vote-book.js';
import type { VoterPort } from './ports.js';
import type { VoteReply, VoteRequest } from './types.js';

export class VoterClients implements VoterPort {
  /** Fault injection (tests): behave as if this host were cut off from every other voter. */
  cutOff = false;

  constructor(private readonly urls: ReadonlyMap<string, string>, private readonly self?: { name: string; book: VoteBook }) {}

  async ask(voter: string, req: VoteRequest, timeoutMs: number): Promise<VoteReply> {
    if (this.self && voter === this.self.name) return this.self.book.handle(req);
    if (this.cutOff) throw new Error('cut off');
    const url = this.urls.get(voter);
    if (!url) throw new Error(`no address for voter ${voter}`);
    const res = await fetch(url, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(req), signal: AbortSignal.timeout(timeoutMs),
    });
    const body = (await res.json()) as VoteReply;
    if (!res.ok || typeof body.granted !== 'boolean') throw new Error(`voter ${voter} answered HTTP ${res.status}`);
    return body;
  }
}
