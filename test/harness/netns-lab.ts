/**
 * A lab of hosts in Linux network namespaces, created and removed by the test itself (root only):
 * one namespace per host, each with an `eth0` on one bridge (in a namespace of its own), real
 * addresses in a private /24 that exists only inside the lab. Processes started in a host are
 * tracked by PID and killed at teardown; a host can be cut off (its cable pulled) and healed.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { missing } from './requirements.js';

export interface LabHost {
  readonly name: string;
  readonly ns: string;
  readonly address: string;
}

/** Why the lab cannot run here, or undefined when it can. */
export function labUnavailable(): string | undefined {
  return missing({ root: true, tools: ['ip', 'arping'], why: 'the network-namespace lab' });
}

function sh(args: readonly string[]): string {
  return execFileSync(args[0]!, args.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

export class NetnsLab {
  readonly hosts = new Map<string, LabHost>();
  private readonly bridgeNs: string;
  private readonly procs: ChildProcess[] = [];

  /** `subnet` like "10.213.0": hosts get subnet.N. */
  constructor(private readonly id: string, readonly subnet: string, private readonly logDir: string) {
    this.bridgeNs = `${id}-br`;
  }

  create(hosts: Record<string, number>): void {
    this.destroy(); // a previous run that died may have left namespaces behind
    sh(['ip', 'netns', 'add', this.bridgeNs]);
    this.inBridge(['ip', 'link', 'add', 'br0', 'type', 'bridge']);
    this.inBridge(['ip', 'link', 'set', 'br0', 'up']);
    // Frames crossing the lab bridge must not go through the host's iptables (FIELD-NOTES).
    try {
      this.inBridge(['sysctl', '-qw', 'net.bridge.bridge-nf-call-iptables=0']);
    } catch {
      /* br_netfilter not loaded: nothing to turn off */
    }
    for (const [name, n] of Object.entries(hosts)) {
      const ns = `${this.id}-${name}`;
      const peer = `v-${name}`.slice(0, 15);
      sh(['ip', 'netns', 'add', ns]);
      sh(['ip', 'link', 'add', 'eth0', 'netns', ns, 'type', 'veth', 'peer', 'name', peer, 'netns', this.bridgeNs]);
      this.inBridge(['ip', 'link', 'set', peer, 'master', 'br0', 'up']);
      const address = `${this.subnet}.${n}`;
      this.exec(ns, ['ip', 'link', 'set', 'lo', 'up']);
      this.exec(ns, ['ip', 'addr', 'add', `${address}/24`, 'dev', 'eth0']);
      this.exec(ns, ['ip', 'link', 'set', 'eth0', 'up']);
      this.hosts.set(name, { name, ns, address });
    }
  }

  host(name: string): LabHost {
    const h = this.hosts.get(name);
    if (!h) throw new Error(`no lab host ${name}`);
    return h;
  }

  exec(ns: string, args: readonly string[]): string {
    return sh(['ip', 'netns', 'exec', ns, ...args]);
  }

  run(host: string, args: readonly string[]): string {
    return this.exec(this.host(host).ns, args);
  }

  private inBridge(args: readonly string[]): string {
    return this.exec(this.bridgeNs, args);
  }

  /** Where spawn(…, label) writes the process's output. */
  logPath(label: string): string {
    return path.join(this.logDir, `${label}.log`);
  }

  /**
   * Start a long-running process in a host (own process group); output goes to logPath(label).
   * With `pipes`, stdin and stdout stay connected to this process (only stderr goes to the log):
   * a way to talk to a process inside a host that works whatever the host's network state.
   */
  spawn(host: string, args: readonly string[], label: string, env: Record<string, string> = {}, opts: { pipes?: boolean } = {}): ChildProcess {
    const out = fs.openSync(this.logPath(label), 'a');
    const child = spawn('ip', ['netns', 'exec', this.host(host).ns, ...args], {
      stdio: opts.pipes ? ['pipe', 'pipe', out] : ['ignore', out, out], detached: true, env: { ...process.env, ...env },
    });
    fs.closeSync(out);
    this.procs.push(child);
    return child;
  }

  /** Pull (or plug back) a host's cable: its bridge port goes down. */
  cut(host: string, on: boolean): void {
    this.inBridge(['ip', 'link', 'set', `v-${host}`.slice(0, 15), on ? 'down' : 'up']);
  }

  /** IPv4 addresses on a host's eth0. */
  addresses(host: string): string[] {
    return [...this.run(host, ['ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0']).matchAll(/inet (\S+)\//g)].map((m) => m[1]!);
  }

  mac(host: string): string {
    return this.run(host, ['cat', '/sys/class/net/eth0/address']).trim().toLowerCase();
  }

  /** The MAC addresses that answer ARP for `ip`, as seen from `from`. */
  arpAnswers(from: string, ip: string, count = 3): string[] {
    let out = '';
    try {
      out = this.run(from, ['arping', '-c', String(count), '-w', String(count + 1), '-I', 'eth0', ip]);
    } catch (err) {
      out = String((err as { stdout?: string }).stdout ?? ''); // exit 1 when nobody answered
    }
    return [...new Set([...out.matchAll(/\[([0-9a-f:]{17})\]/gi)].map((m) => m[1]!.toLowerCase()))];
  }

  async stopAll(): Promise<void> {
    for (const p of this.procs) if (p.exitCode === null && p.signalCode === null && p.pid) signalGroup(p.pid, 'SIGTERM');
    const deadline = Date.now() + 10_000;
    while (this.procs.some((p) => p.exitCode === null && p.signalCode === null) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    for (const p of this.procs) if (p.pid) signalGroup(p.pid, 'SIGKILL');
  }

  destroy(): void {
    const mine = sh(['ip', 'netns', 'list']).split('\n').map((l) => l.split(' ')[0]!).filter((n) => n.startsWith(`${this.id}-`));
    // A run that was killed outright left its processes behind in its hosts: a daemon still bound
    // to a lab address would keep the namespace alive and answer the next run. Only processes
    // inside this lab's own namespaces are ended.
    for (const ns of mine) {
      let pids: string[] = [];
      try {
        pids = sh(['ip', 'netns', 'pids', ns]).split('\n').filter((l) => /^\d+$/.test(l.trim()));
      } catch {
        /* namespace already gone */
      }
      for (const pid of pids) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          /* gone */
        }
      }
    }
    for (const ns of mine) {
      try {
        sh(['ip', 'netns', 'del', ns]);
      } catch {
        /* already gone */
      }
    }
    this.hosts.clear();
  }
}

/** Signal a process group we started; a group already gone is fine. */
function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    /* gone */
  }
}
