/**
 * The VIP election's vocabulary. Every lb (a candidate) asks every voter for a lease each
 * heartbeat; a voter grants it to at most one candidate at a time; the candidate holding grants
 * from a majority of voters is the only one that may hold the VIP (docs/standby.md).
 */

/** acquire: grant me the lease (or renew it); observe: I stand back but tell me who holds it; release: I give it up now. */
export type Want = 'acquire' | 'observe' | 'release';

export interface VoteRequest {
  readonly candidate: string;
  readonly priority: number;
  /** The candidate's edge can serve: listeners up and a server up in every backend. */
  readonly healthy: boolean;
  readonly want: Want;
  /**
   * It holds the lease now (grants from a majority): a voter with a free grant gives it to the
   * active first, so voters that restart one by one never drain the active's majority away to
   * the passive. Optional: an older candidate does not send it.
   */
  readonly active?: boolean;
  /** How long the grant lasts, from the moment the voter receives the request. */
  readonly leaseMs: number;
}

/** A candidate as one voter has seen it recently. */
export interface CandidateSeen {
  readonly name: string;
  readonly priority: number;
  readonly healthy: boolean;
  /** It asked for the lease in its last request (not standing back). */
  readonly asking: boolean;
  /** It said it holds the lease (absent: it did not). */
  readonly active?: true;
  /** How long it has been asking without a gap, and healthy without a gap. */
  readonly seenForMs: number;
  readonly healthyForMs: number;
}

export interface VoteReply {
  readonly voter: string;
  readonly granted: boolean;
  /** Who holds this voter's grant now (maybe the asker), or null. */
  readonly holder: string | null;
  /** Time left on that grant, by the voter's clock. */
  readonly holderExpiresInMs: number;
  /** Every candidate this voter has heard from recently, the asker included. */
  readonly candidates: readonly CandidateSeen[];
  /** Why the grant was refused, when it was. */
  readonly note?: string;
}

export type CandidateState = 'passive' | 'active' | 'fault';
