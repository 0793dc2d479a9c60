/** `POST /standby/vote` on every voter's agent API: a checked VoteRequest in, a VoteReply out. */
import { ApiError, type AgentApi } from '../agent-api/index.js';
import type { VoteBook } from './vote-book.js';
import type { VoteRequest, Want } from './types.js';

const WANTS: readonly Want[] = ['acquire', 'observe', 'release'];

export function mountVoteApi(api: AgentApi, book: VoteBook, candidates: readonly string[]): void {
  api.route('POST', '/standby/vote', (req) => ({ status: 200, body: book.handle(parseVoteRequest(req.body, candidates)) }), ['lb']);
}

export function parseVoteRequest(body: unknown, candidates: readonly string[]): VoteRequest {
  const shape = 'body must be {"candidate": "<lb node>", "priority": <int>, "healthy": <bool>, "want": "acquire"|"observe"|"release", "leaseMs": <ms>, "active"?: <bool>}';
  if (!body || typeof body !== 'object') throw new ApiError(400, shape);
  const b = body as Record<string, unknown>;
  if (typeof b['candidate'] !== 'string') throw new ApiError(400, `"candidate" is missing or not a string; ${shape}`);
  if (!candidates.includes(b['candidate'])) throw new ApiError(403, `${JSON.stringify(b['candidate'])} is not an lb node of this cluster (lb nodes: ${candidates.join(', ')})`);
  if (!Number.isInteger(b['priority'])) throw new ApiError(400, `"priority" must be an integer; ${shape}`);
  if (typeof b['healthy'] !== 'boolean') throw new ApiError(400, `"healthy" must be true or false; ${shape}`);
  if (!WANTS.includes(b['want'] as Want)) throw new ApiError(400, `"want" must be one of ${WANTS.join(', ')}; ${shape}`);
  const lease = b['leaseMs'];
  if (typeof lease !== 'number' || !Number.isInteger(lease) || lease < 1 || lease > 60_000) throw new ApiError(400, `"leaseMs" must be an integer from 1 to 60000; ${shape}`);
  if (b['active'] !== undefined && typeof b['active'] !== 'boolean') throw new ApiError(400, `"active" must be true or false when given; ${shape}`);
  return { candidate: b['candidate'], priority: b['priority'] as number, healthy: b['healthy'], want: b['want'] as Want, leaseMs: lease, ...(b['active'] === true && { active: true }) };
}
