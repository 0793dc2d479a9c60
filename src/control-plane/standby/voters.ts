/**
 * Reaching the voters: this node's own vote book in process, the others over their agent APIs
 * (`POST /standby/vote` over the node's mutual-TLS keep-alive pool).
 */
import type { AgentClient, AgentTarget } from '../agent-api/index.js';
import type { VoteBook } from './vote-book.js';
import type { VoterPort } from './ports.js';
import type { VoteReply, VoteRequest } from './types.js';

export class VoterClients implements VoterPort {
  /** Fault injection (tests): behave as if this host were cut off from every other voter. */
  cutOff = false;

  constructor(private readonly voters: ReadonlyMap<string, AgentTarget>, private readonly agents: AgentClient, private readonly self?: { name: string; book: VoteBook }) {}

  async ask(voter: string, req: VoteRequest, timeoutMs: number): Promise<VoteReply> {
    if (this.self && voter === this.self.name) return this.self.book.handle(req);
    if (this.cutOff) throw new Error('cut off');
    const target = this.voters.get(voter);
    if (!target) throw new Error(`no address for voter ${voter}`);
    const { status, body } = await this.agents.json<VoteReply>(target, '/standby/vote', { method: 'POST', body: req, timeoutMs });
    if (status !== 200 || typeof body?.granted !== 'boolean') throw new Error(`voter ${voter} answered HTTP ${status}`);
    return body;
  }
}
