/** PeerPort over the members' agent APIs: live HA state and failsafe heartbeats. */
import type { PeerObservation } from '../core/types.js';
import type { MemberAddress, PeerPort } from '../loop/ports.js';

export class HttpPeers implements PeerPort {
  /** Fault injection: behave as if this member's host were cut off from its peers. */
  blocked = false;

  constructor(private readonly timeoutMs: number) {}

  async observe(m: MemberAddress): Promise<PeerObservation> {
    if (this.blocked) return { reachable: false };
    try {
      const res = await fetch(`${m.api}/ha/state`, { signal: AbortSignal.timeout(this.timeoutMs) });
      if (!res.ok) return { reachable: false };
      const body = (await res.json()) as { role?: PeerObservation['role']; walPosition?: number; timeline?: number };
      return {
        reachable: true,
        ...(body.role ? { role: body.role } : {}),
        ...(typeof body.walPosition === 'number' ? { walPosition: body.walPosition } : {}),
        ...(typeof body.timeline === 'number' ? { timeline: body.timeline } : {}),
      };
    } catch {
      return { reachable: false };
    }
  }

  async failsafeHeartbeat(m: MemberAddress, from: string): Promise<boolean> {
    if (this.blocked) return false;
    try {
      const res = await fetch(`${m.api}/ha/failsafe`, {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ from }),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      return res.ok;
    } catch {
      return false;
    }
  }
}
