/**
 * The VIP on a real network: the active lb adds it to an interface, binds it, and announces it
 * with gratuitous ARP (IPv4) so switches and clients move their caches to this host at once and
 * again every announce interval (a client that kept the old holder's MAC through a partition
 * finds the new holder within one interval).
 *
 * A guard process removes the address if this agent dies (kill -9, OOM): it is started with
 * PR_SET_PDEATHSIG, so the kernel signals it the moment the agent is gone. Without it a dead
 * agent's host keeps answering ARP for the VIP, keepalived's classic split brain.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { isIPv6 } from 'node:net';
import type { Logger } from '../../core/log.js';
import type { Edge } from '../../data-plane/index.js';
import { runCommand, type RunCommand } from './commands.js';
import type { VipPort } from './ports.js';

export class InterfaceVip implements VipPort {
  private guard: ChildProcess | undefined;
  private readonly prefix: string;
  private readonly v6: boolean;
  /** `ip -4` or `ip -6`. */
  private readonly family: '-4' | '-6';
  private warnedV6 = false;
  private announcing = false;

  constructor(
    private readonly edge: Edge,
    private readonly vip: string,
    private readonly iface: string,
    private readonly log: Logger,
    private readonly run: RunCommand = runCommand,
  ) {
    this.v6 = isIPv6(vip);
    this.family = this.v6 ? '-6' : '-4';
    this.prefix = `${vip}/${this.v6 ? 128 : 32}`;
  }

  /** Before the election starts: drop an address left by a previous life, arm the guard. */
  async prepare(): Promise<void> {
    await this.delAddress();
    // The signal comes when the agent's main thread dies, maybe before its other threads have
    // let go of the sockets: wait (≤ 1 s) until no thread of it runs, so the FINs to its clients
    // still leave from the VIP and they reconnect at once; then drop the address.
    const p = `/proc/${process.pid}`;
    const sockets = `i=0; while [ $i -lt 100 ] && { [ "$(ls ${p}/task 2>/dev/null | wc -l)" -gt 1 ] || grep -qs '^State:.*[RSD]' ${p}/status; }; do sleep 0.01; i=$((i+1)); done`;
    const cleanup = `ip ${this.family} addr del ${this.prefix} dev ${this.iface} 2>/dev/null`;
    this.guard = spawn('setpriv', ['--pdeathsig', 'TERM', '--', '/bin/sh', '-c',
      `trap '${sockets}; ${cleanup}; kill $! 2>/dev/null; exit 0' TERM INT; while :; do sleep 3600 & wait $!; done`], { stdio: 'ignore' });
    this.guard.on('error', (err) => this.log.error({ err: err.message }, `VIP guard could not start: ${err.message}`));
  }

  async acquire(): Promise<void> {
    try {
      await this.run('ip', [this.family, 'addr', 'add', this.prefix, 'dev', this.iface, ...(this.v6 ? ['nodad'] : [])]);
    } catch (err) {
      if (!/File exists/.test((err as Error).message)) throw err;
    }
    await this.edge.addBindHost(this.vip);
    // Not awaited: arping lingers a second after sending, and nothing may wait behind it.
    this.announce().catch((err: Error) => this.log.warn({ err: err.message }, `VIP ${this.vip}: announce failed: ${err.message}`));
  }

  async release(): Promise<void> {
    this.edge.removeBindHost(this.vip);
    await this.delAddress();
  }

  async announce(): Promise<void> {
    if (this.announcing) return;
    if (this.v6) {
      // Debian's ndisc6 has no tool to send an unsolicited NA; the notify hooks cover IPv6 VIPs.
      if (!this.warnedV6) this.log.warn(`VIP ${this.vip}: IPv6 neighbour advertisements are not sent; neighbours learn the move when their cache entry expires`);
      this.warnedV6 = true;
      return;
    }
    this.announcing = true;
    try {
      await this.run('arping', ['-U', '-c', '1', '-I', this.iface, this.vip]);
    } finally {
      this.announcing = false;
    }
  }

  describe(): string {
    return `${this.vip} on ${this.iface}`;
  }

  /** Stop the guard (it removes the address on its way out too). */
  close(): void {
    this.guard?.kill('SIGTERM');
  }

  private async delAddress(): Promise<void> {
    await this.run('ip', [this.family, 'addr', 'del', this.prefix, 'dev', this.iface]).catch(() => {});
  }
}
