/**
 * The candidate's view of its lease: one expiry per voter that granted it, each counted from
 * when the request was SENT (before the voter could have received it) and shortened by a safety
 * margin, so the candidate always believes its lease ends before any voter's grant does.
 */
export class LeaseLedger {
  private readonly expiries = new Map<string, number>();

  constructor(readonly majority: number, private readonly leaseMs: number, private readonly safetyMs: number) {}

  granted(voter: string, sentAt: number): void {
    this.expiries.set(voter, sentAt + this.leaseMs - this.safetyMs);
  }

  /** The voter refused or now grants to someone else: its earlier grant no longer counts. */
  refused(voter: string): void {
    this.expiries.delete(voter);
  }

  clear(): void {
    this.expiries.clear();
  }

  /** Until when a majority's grants all run (−∞ without a majority). */
  validUntil(): number {
    const sorted = [...this.expiries.values()].sort((a, b) => b - a);
    return sorted[this.majority - 1] ?? -Infinity;
  }

  /** Voters whose grant is still running at `now`. */
  votes(now: number): number {
    let n = 0;
    for (const e of this.expiries.values()) if (e > now) n++;
    return n;
  }
}

export function majorityOf(voters: number): number {
  return Math.floor(voters / 2) + 1;
}
