/** The database HA capability: the decide() core, the loop, the DCS and PostgreSQL control. */
export { decide } from './core/decide.js';
export type { HaConfig, HaDecision, HaSnapshot, MemberInfo, SyncDoc, FailoverDoc } from './core/types.js';
export { memberOf, syncDocOf, failoverDocOf } from './core/view.js';
export { replicaReadLag, nextLastStreamed, type LastStreamed, type LeaderSeen } from './core/replica-reads.js';
export { HaLoop, type HaState } from './loop/ha-loop.js';
export { dcsFromSpec } from './dcs/from-spec.js';
export { PgMember } from './member/pg-member.js';
export { HttpPeers } from './member/http-peers.js';
export { memberAddresses } from './member/addresses.js';
export { memberChanges, type MemberChanges } from './member/member-changes.js';
