/**
 * Can a stopped member rejoin the primary by simply following it, or must it be re-cloned?
 *
 * It may follow only when its WAL is a prefix of the primary's: it ends on a timeline of the
 * primary's ancestry, no further than where the primary's history left that timeline (on the
 * primary's own timeline: no further than the primary has written). WAL past that point is WAL
 * the primary never had — typically commits a crashed primary flushed but never sent, none of
 * them acknowledged in sync mode — and following would keep it under the primary's newer WAL, so
 * the member is re-cloned (or rewound). A member that cannot say where its WAL ends is re-cloned.
 */
import type { MemberInfo, PgObservation } from './types.js';

export type RejoinVerdict =
  | { readonly kind: 'follow'; readonly why: string }
  | { readonly kind: 'reclone'; readonly why: string }
  | { readonly kind: 'wait'; readonly why: string };

/** A WAL position as PostgreSQL prints it (e.g. 0/402E508). */
export function lsnText(bytes: number): string {
  const hex = (n: number): string => n.toString(16).toUpperCase();
  return `${hex(Math.floor(bytes / 2 ** 32))}/${hex(bytes % 2 ** 32)}`;
}

export function rejoinVerdict(pg: PgObservation, leader: string, info: MemberInfo | undefined): RejoinVerdict {
  if (pg.startFailed) return { kind: 'reclone', why: `PostgreSQL did not start on this data (${pg.startFailed})` };
  if (info?.role !== 'primary' || info.timeline === undefined) return { kind: 'wait', why: `${leader} does not run as primary yet` };
  if (!info.history) return { kind: 'reclone', why: `${leader} publishes no timeline history to check my WAL against` };
  const wal = pg.walEnd;
  if (!wal || 'error' in wal) return { kind: 'reclone', why: `cannot tell where my WAL ends (${wal?.error ?? 'not read'})` };
  const mine = `my WAL ends at ${lsnText(wal.position)} on timeline ${wal.timeline}`;
  if (wal.timeline > info.timeline) return { kind: 'reclone', why: `${mine}, newer than ${leader}'s timeline ${info.timeline}` };
  if (wal.timeline === info.timeline) {
    if (info.walPosition !== undefined && wal.position <= info.walPosition) {
      return { kind: 'follow', why: `${mine}, ${leader}'s timeline, not past its position ${lsnText(info.walPosition)}` };
    }
    return { kind: 'reclone', why: `${mine}, past ${leader}'s position ${lsnText(info.walPosition ?? 0)} on the same timeline` };
  }
  const fork = info.history.find((h) => h.timeline === wal.timeline);
  if (!fork) return { kind: 'reclone', why: `${mine}, which is not in ${leader}'s history` };
  if (wal.position <= fork.end) return { kind: 'follow', why: `${mine}, not past ${leader}'s fork point ${lsnText(fork.end)}` };
  return { kind: 'reclone', why: `${mine}, past ${leader}'s fork point ${lsnText(fork.end)}: it holds WAL ${leader} never had` };
}
