export { StandbyCandidate, type CandidateStatus } from './candidate.js';
export { VoteBook } from './vote-book.js';
export { mountVoteApi } from './vote-api.js';
export { VoterClients } from './voters.js';
export { LocalVip } from './vip-local.js';
export { InterfaceVip } from './vip-interface.js';
export { ShellHooks } from './hooks.js';
export type { VipPort, HookPort, VoterPort } from './ports.js';
export type { CandidateState, VoteReply, VoteRequest } from './types.js';
