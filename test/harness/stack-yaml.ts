/**
 * The whole stack as a test cluster file: lbs, two web nodes running the demo app, db members in
 * sync mode and a monitor, all in one /24 of loopback (`NET.1`… lbs, `.11`/`.12` web, `.21`… db,
 * `.31` monitor, `.100` the VIP). Tests add their own sections (`extra`) and database settings.
 */
import { demoAppYaml } from './cli.js';

export interface StackOptions {
  readonly cluster: string;
  /** The first three octets, e.g. `127.0.15`. */
  readonly net: string;
  readonly agentPort: number;
  readonly appPort: number;
  readonly edgePort: number;
  readonly pgPort: number;
  readonly routerPorts: readonly [number, number];
  readonly lbs?: number;
  /** db member names (default db-1, db-2), at `.21`, `.22`, … in order. */
  readonly dbs?: readonly string[];
  /** More lines under `database:` (indented two spaces). */
  readonly database?: string;
  /** Top-level sections after the rest (e.g. `monitor:`). */
  readonly extra?: string;
}

export function stackYaml(o: StackOptions): string {
  const lbs = Array.from({ length: o.lbs ?? 2 }, (_, i) => `  - { name: lb-${i + 1},  role: lb,      address: ${o.net}.${i + 1} }`);
  const dbs = (o.dbs ?? ['db-1', 'db-2']).map((name, i) => `  - { name: ${name},  role: db,      address: ${o.net}.${21 + i} }`);
  return `
cluster: ${o.cluster}
state_dir: state
agent: { port: ${o.agentPort} }
nodes:
${lbs.join('\n')}
  - { name: web-1, role: web,     address: ${o.net}.11 }
  - { name: web-2, role: web,     address: ${o.net}.12 }
${dbs.join('\n')}
  - { name: mon-1, role: monitor, address: ${o.net}.31 }
web:
${demoAppYaml(o.appPort)}edge:
  vip: ${o.net}.100
  frontends: [ { name: www, port: ${o.edgePort}, routes: [ { path_prefix: /, backend: app } ] } ]
  backends:
    - name: app
      health_check: { path: /healthz, interval: 300ms, timeout: 250ms, rise: 1, fall: 2 }
      servers: [ { node: web-1 }, { node: web-2 } ]
database:
  mode: sync
  port: ${o.pgPort}
  ttl: 3s
  loop: 500ms
  router: { rw_port: ${o.routerPorts[0]}, ro_port: ${o.routerPorts[1]} }
${o.database ?? ''}${o.extra ?? ''}`;
}
