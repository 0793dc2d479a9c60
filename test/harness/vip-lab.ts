/**
 * The VIP lab shared by the namespace tests and `npm run drill:takeover`: a client host, two lbs,
 * two web servers and a monitor on one bridge, the VIP on eth0, and a retrying client load run
 * from the client host.
 */
import fs from 'node:fs';
import path from 'node:path';
import { REPO, demoAppYaml } from './cli.js';
import type { NetnsLab } from './netns-lab.js';
import type { RetryingLoadResult } from './retrying-load.js';

export const VIP_LAB_HOSTS = { 'lb-1': 1, 'lb-2': 2, 'web-1': 11, 'web-2': 12, 'mon-1': 31, client: 50 };
export const VIP_LAB_NODES = ['lb-1', 'lb-2', 'web-1', 'web-2', 'mon-1'] as const;
export const VIP_LAB_LBS = ['lb-1', 'lb-2'] as const;

/** The lab's cluster file; `standby` is the edge.standby mapping in YAML flow style. */
export function vipLabYaml(subnet: string, cluster: string, standby = '{ interface: eth0 }'): string {
  return `
cluster: ${cluster}
state_dir: state
nodes:
  - { name: lb-1,  role: lb,  address: ${subnet}.1 }
  - { name: lb-2,  role: lb,  address: ${subnet}.2 }
  - { name: web-1, role: web, address: ${subnet}.11 }
  - { name: web-2, role: web, address: ${subnet}.12 }
  - { name: mon-1, role: monitor, address: ${subnet}.31 }
web:
${demoAppYaml(3000)}edge:
  vip: ${subnet}.100
  standby: ${standby}
  frontends:
    - { name: www, mode: http, port: 80, default_backend: app }
  backends:
    - name: app
      health_check: { path: /healthz, interval: 300ms, timeout: 250ms, rise: 2, fall: 2 }
      servers: [ { node: web-1 }, { node: web-2 } ]
`;
}

/** The lb hosts that carry `vip` on eth0 right now. */
export function vipHolders(lab: NetnsLab, vip: string): string[] {
  return VIP_LAB_LBS.filter((lb) => lab.addresses(lb).includes(vip));
}

/** A retrying client load from the client host (netns-client.ts); stop() returns its result. */
export function startLabClient(lab: NetnsLab, url: string, label: string): { stop(): Promise<RetryingLoadResult> } {
  const p = lab.spawn('client', [process.execPath, path.join(REPO, 'dist/test/harness/netns-client.js'), url, '60000'], label);
  return {
    stop: async () => {
      process.kill(p.pid!, 'SIGTERM');
      await new Promise((r) => p.once('exit', r));
      return JSON.parse(fs.readFileSync(lab.logPath(label), 'utf8').trim().split('\n').pop()!) as RetryingLoadResult;
    },
  };
}
