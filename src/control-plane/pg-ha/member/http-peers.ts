/** PeerPort over the members' agent APIs: live HA state and failsafe heartbeats. */
import type { AgentClient } from '../../agent-api/index.js';
import type { PeerObservation } from '../core/types.js';
import type { MemberAddress, PeerPort } from '../loop/ports.js';

export class HttpPeers implements PeerPort {
  /** Fault injection: behave as if this member's host were cut off from its peers. */
  blocked = false;

  constructor(private readonly agents: AgentClient, private readonly timeoutMs: number) {}

  async observe(m: MemberAddress): Promise<PeerObservation> {
    if (this.blocked) return { reachable: false };
    try {
      const { status, body } = await this.agents.json<{ role?: PeerObservation['role']; walPosition?: number; timeline?: number }>(
        m.api, '/ha/state', { timeoutMs: this.timeoutMs });
      if (status !== 200 || !body || typeof body !== 'object') return { reachable: false };
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
      const { status } = await this.agents.request(m.api, '/ha/failsafe', { method: 'POST', body: { from }, timeoutMs: this.timeoutMs });
      return status === 200;
    } catch {
      return false;
    }
  }
}
