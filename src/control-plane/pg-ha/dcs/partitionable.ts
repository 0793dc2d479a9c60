/**
 * A DCS client that can be cut off from its store on purpose: the fault-injection hook failure
 * drills use to partition one member from the DCS on a single machine (where every loopback
 * connection shares a source address, so a packet filter cannot single one member out). Enabled
 * only when the agent runs with BULWARK_FAULT_INJECTION=1; the agent API then serves
 * POST /debug/dcs-partition {"on": true|false}.
 */
import { DcsUnavailableError, type Dcs, type DocKey, type MemberData, type ClusterView } from './types.js';
import { sleep, type Clock } from '../../../core/clock.js';

export class PartitionableDcs implements Dcs {
  cut = false;
  constructor(private readonly inner: Dcs, private readonly clock: Clock) {}
  get description(): string {
    return `${this.inner.description}${this.cut ? ' (partitioned by fault injection)' : ''}`;
  }
  get minTtlMs(): number {
    return this.inner.minTtlMs;
  }
  private async guard<T>(fn: () => Promise<T>): Promise<T> {
    if (this.cut) throw new DcsUnavailableError('partitioned from the DCS (fault injection)');
    return fn();
  }
  read(): Promise<ClusterView> { return this.guard(() => this.inner.read()); }
  acquireLeader(name: string, ttlMs: number): Promise<boolean> { return this.guard(() => this.inner.acquireLeader(name, ttlMs)); }
  renewLeader(name: string, ttlMs: number): Promise<boolean> { return this.guard(() => this.inner.renewLeader(name, ttlMs)); }
  releaseLeader(name: string): Promise<boolean> { return this.guard(() => this.inner.releaseLeader(name)); }
  touchMember(name: string, data: MemberData, ttlMs: number): Promise<void> { return this.guard(() => this.inner.touchMember(name, data, ttlMs)); }
  deleteMember(name: string): Promise<void> { return this.guard(() => this.inner.deleteMember(name)); }
  setDoc(key: DocKey, value: unknown, expectedVersion?: string | null): Promise<boolean> { return this.guard(() => this.inner.setDoc(key, value, expectedVersion)); }
  deleteDoc(key: DocKey, expectedVersion?: string): Promise<boolean> { return this.guard(() => this.inner.deleteDoc(key, expectedVersion)); }
  async waitForChange(timeoutMs: number): Promise<void> {
    if (this.cut) {
      await sleep(this.clock, timeoutMs);
      return;
    }
    return this.inner.waitForChange(timeoutMs);
  }
  close(): Promise<void> { return this.inner.close(); }
}
