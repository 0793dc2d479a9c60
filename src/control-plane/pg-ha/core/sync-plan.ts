/**
 * Synchronous replication without lost writes. PostgreSQL runs `ANY 1 (S_pg)`: a commit is
 * acknowledged once any member of S_pg has flushed it. The DCS records S_dcs, and a failover
 * candidate must be in S_dcs and the most advanced member of it. Acknowledged writes are safe as
 * long as S_pg ⊆ S_dcs and S_pg is not empty; when S_pg is empty (async fallback) S_dcs must be
 * empty too, so nobody is promotable.
 *
 * Hence the order of steps, one per loop, each observed before the next:
 *  - add b while S_pg ≠ ∅:  S_dcs += b, then S_pg += b
 *  - remove b, S_pg \ b ≠ ∅: S_pg -= b, record the primary's position P, then S_dcs -= b once a
 *                            member of S_pg has flushed P (a commit only b acknowledged is then
 *                            on it too)
 *  - remove the last one:    S_dcs = ∅, then S_pg = ∅        (not in strict mode: writes block)
 *  - from S_pg = ∅ add b:    S_pg = {b}, record the primary's position P, S_dcs = {b} once b
 *                            has flushed P (commits acknowledged before b was sync are then on b)
 */
import type { HaAction, SyncDoc } from './types.js';

export interface SyncInput {
  readonly leader: string;
  readonly mode: 'async' | 'sync';
  readonly strict: boolean;
  /** S_pg as PostgreSQL reports it now. */
  readonly pgNames: readonly string[];
  /** The DCS sync doc, if it belongs to this leader. */
  readonly doc: SyncDoc | undefined;
  /** Replicas streaming from this primary now. */
  readonly standbys: readonly { readonly name: string; readonly flushPosition: number; readonly sync: boolean }[];
  /** Members that may never be promoted (nofailover) and so never count as sync standbys. */
  readonly excluded: ReadonlySet<string>;
  readonly primaryPosition: number;
}

/** The next single step towards the desired sync state, with why; undefined when settled. */
export function planSync(i: SyncInput): { action: HaAction; why: string } | undefined {
  const doc: SyncDoc = i.doc ?? { leader: i.leader, members: [] };
  const dcs = doc.members;
  const pg = i.pgNames;
  const streaming = i.standbys.filter((s) => !i.excluded.has(s.name)).map((s) => s.name).sort();

  if (!i.doc) {
    // A new leader: claim the doc with S_dcs = S_pg (keeps S_pg ⊆ S_dcs) before anything else.
    return { action: { type: 'set-sync-dcs', doc: { leader: i.leader, members: [...pg] } }, why: 'taking over the sync state' };
  }

  if (i.mode === 'async') {
    if (dcs.length > 0 || doc.catchUp) return { action: { type: 'set-sync-dcs', doc: { leader: i.leader, members: [] } }, why: 'async mode: no sync standby' };
    if (pg.length > 0) return { action: { type: 'set-sync-pg', names: [] }, why: 'async mode: clearing synchronous_standby_names' };
    return undefined;
  }

  // 1. Drop standbys that stopped streaming (PostgreSQL first, then the DCS).
  const gone = pg.filter((n) => !streaming.includes(n));
  if (gone.length > 0) {
    const keep = pg.filter((n) => !gone.includes(n));
    if (keep.length > 0) return { action: { type: 'set-sync-pg', names: keep }, why: `sync standby ${gone.join(', ')} stopped streaming` };
    if (i.strict) return undefined; // writes wait for a standby: the operator asked for that
    if (dcs.length > 0 || doc.catchUp) {
      return { action: { type: 'set-sync-dcs', doc: { leader: i.leader, members: [] } }, why: `last sync standby ${gone.join(', ')} gone: nobody is promotable without loss` };
    }
    return { action: { type: 'set-sync-pg', names: [] }, why: `last sync standby ${gone.join(', ')} gone: falling back to async so writes keep flowing` };
  }

  // 2. With S_pg empty the DCS must say nobody is promotable. Otherwise drop from S_dcs members
  //    that are neither synchronous nor about to become so (safe: S_pg ⊆ S_dcs either way).
  if (pg.length === 0 && dcs.length > 0) {
    return { action: { type: 'set-sync-dcs', doc: { leader: i.leader, members: [] } }, why: 'no sync standby in PostgreSQL: nobody is promotable without loss' };
  }
  const extra = dcs.filter((n) => !pg.includes(n) && !streaming.includes(n));
  if (extra.length > 0) {
    // Recorded in the cycle after S_pg changed, so P covers every commit they alone acknowledged.
    const leaving = doc.leaving;
    if (!leaving || leaving.names.join() !== extra.join()) {
      return { action: { type: 'set-sync-dcs', doc: { leader: i.leader, members: dcs, leaving: { names: extra, position: i.primaryPosition } } },
        why: `${extra.join(', ')} leaving the sync set once another sync standby has everything they acknowledged` };
    }
    const holder = i.standbys.find((s) => pg.includes(s.name) && s.flushPosition >= leaving.position);
    if (!holder) return undefined;
    return { action: { type: 'set-sync-dcs', doc: { leader: i.leader, members: dcs.filter((n) => pg.includes(n)) } },
      why: `${extra.join(', ')} no longer synchronous (${holder.name} has every commit they acknowledged)` };
  }
  if (doc.leaving) {
    // They stream again before leaving: a later departure must record a fresh position.
    return { action: { type: 'set-sync-dcs', doc: { leader: i.leader, members: dcs } }, why: `${doc.leaving.names.join(', ')} streaming again: no longer leaving` };
  }

  // 3. Coming back from async: one standby at a time, PostgreSQL first, then catch-up.
  if (pg.length === 0) {
    const first = streaming[0];
    if (!first) return undefined;
    return { action: { type: 'set-sync-pg', names: [first] }, why: `making ${first} a sync standby` };
  }
  if (dcs.length === 0) {
    const b = pg[0]!;
    const s = i.standbys.find((x) => x.name === b);
    if (!doc.catchUp || doc.catchUp.name !== b) {
      return { action: { type: 'set-sync-dcs', doc: { leader: i.leader, members: [], catchUp: { name: b, position: i.primaryPosition } } }, why: `waiting for ${b} to catch up` };
    }
    if (s && s.sync && s.flushPosition >= doc.catchUp.position) {
      return { action: { type: 'set-sync-dcs', doc: { leader: i.leader, members: [b] } }, why: `${b} caught up: promotable without loss` };
    }
    return undefined;
  }

  // 4. More standbys streaming: the DCS first, then PostgreSQL.
  const add = streaming.filter((n) => !pg.includes(n));
  if (add.length > 0) {
    const b = add[0]!;
    if (!dcs.includes(b)) return { action: { type: 'set-sync-dcs', doc: { leader: i.leader, members: [...dcs, b] } }, why: `adding ${b} to the sync set` };
    return { action: { type: 'set-sync-pg', names: [...pg, b] }, why: `making ${b} a sync standby` };
  }
  return undefined;
}
