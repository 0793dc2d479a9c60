/**
 * The Bulwark edge as a stand-alone benchmark target: one lb node on 127.0.0.1 with one http and
 * one tcp frontend in front of two servers, round robin, no access log, relaxed health checks.
 *
 *   node dist/bench/bulwark-proxy.js --http-port 21010 --tcp-port 21011 \
 *        --servers 127.0.0.1:21001,127.0.0.1:21002 [--dir /tmp/x] [--firewall-port 21014]
 *
 * --firewall-port adds a third frontend, the http one again but with an edge firewall that never
 * triggers (deny lists, a rate limit, a connection cap and bans, all far from the load): in the
 * same process, so the comparison with the plain one shares its JIT, heap and core.
 *
 * --no-metrics turns the per-request metrics off (bulwark-http-nometrics); --scrape-ms N reads the
 * metrics registry every N ms, as the monitor does (bulwark-http is run with 1000).
 *
 * Prints one JSON line {"ready":true,…} on stdout once both frontends listen; SIGTERM/SIGINT stop
 * it cleanly (so `node --cpu-prof` can write its profile).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { Registry } from 'prom-client';
import { pino } from 'pino';
import { parseClusterText } from '../src/config/index.js';
import { systemClock } from '../src/core/clock.js';
import { createLogger } from '../src/core/log.js';
import { Edge } from '../src/data-plane/edge/edge.js';
import { CertificateStore } from '../src/data-plane/tls/index.js';
import { arg } from './args.js';
import { CERT_FILES } from './configs.js';
import { EdgeMetrics } from '../src/observability/edge-metrics.js';

const FIREWALL = ', firewall: { deny: [203.0.113.0/24, 198.51.100.0/24, "2001:db8::/32"], rate_limit: { rate: 10000000, burst: 10000000 }, '
  + 'max_connections_per_client: 100000, ban: { after: 1000, within: 10s, for: 1m } }';

export function clusterYaml(httpPort: number, tcpPort: number, servers: readonly string[], firewallPort?: number, httpsPort?: number): string {
  const fw = firewallPort === undefined ? ''
    : `\n    - { name: bench-http-fw, mode: http, port: ${firewallPort}, default_backend: app-http, access_log: false${FIREWALL} }`;
  // HTTPS on its own frontend (plain port unused by the benchmark; no redirect, no HSTS).
  const tls = httpsPort === undefined ? '' : '\n  tls: { source: local, hsts: false }';
  const https = httpsPort === undefined ? ''
    : `\n    - { name: bench-https, mode: http, port: ${httpsPort + 100}, https_port: ${httpsPort}, redirect_to_https: false, default_backend: app-http, access_log: false }`;
  const serverLines = servers.map((s, i) => `        - { name: s${i + 1}, address: "${s}" }`).join('\n');
  const backend = (name: string, mode: 'http' | 'tcp'): string => `    - name: ${name}
      mode: ${mode}
      balance: { policy: roundrobin }
      health_check: { interval: 5s, timeout: 1s }
      servers:
${serverLines}`;
  return `cluster: bench
nodes:
  - { name: lb-1, role: lb, address: 127.0.0.1 }
edge:
  vip: 127.0.0.2${tls}
  frontends:
    - { name: bench-http, mode: http, port: ${httpPort}, default_backend: app-http, access_log: false }
    - { name: bench-tcp, mode: tcp, port: ${tcpPort}, default_backend: app-tcp, access_log: false }${fw}${https}
  backends:
${backend('app-http', 'http')}
${backend('app-tcp', 'tcp')}
`;
}

async function main(): Promise<void> {
  const httpPort = Number(arg('http-port'));
  const tcpPort = Number(arg('tcp-port'));
  const servers = arg('servers').split(',');
  const dir = arg('dir', tmpdir());
  const fwPort = process.argv.includes('--firewall-port') ? Number(arg('firewall-port')) : undefined;
  const httpsPort = process.argv.includes('--https-port') ? Number(arg('https-port')) : undefined;
  const spec = parseClusterText(clusterYaml(httpPort, tcpPort, servers, fwPort, httpsPort), join(dir, 'bench-cluster.yaml'));
  // The same certificate the HTTPS peers serve (written by the benchmark into --dir).
  const certificates = httpsPort === undefined ? undefined : new CertificateStore();
  certificates?.set([{ certPem: readFileSync(join(dir, CERT_FILES.cert), 'utf8'), keyPem: readFileSync(join(dir, CERT_FILES.key), 'utf8'), source: 'bench' }]);
  const log = createLogger({ node: 'bench-lb', level: 'warn', destination: pino.destination({ dest: 2, sync: false }) });
  // --no-metrics: the per-request metrics call does nothing (the bulwark-http-nometrics target),
  // to measure what recording requests costs on the hot path.
  if (process.argv.includes('--no-metrics')) EdgeMetrics.prototype.request = function noMetrics(): void {};
  const registry = new Registry();
  // --scrape-ms N: read the registry every N ms while serving, as the monitor does.
  const scrapeMs = process.argv.includes('--scrape-ms') ? Number(arg('scrape-ms')) : 0;
  if (scrapeMs > 0) setInterval(() => void registry.metrics(), scrapeMs).unref();
  const edge = new Edge(spec.edge, { bindHosts: ['127.0.0.1'], clock: systemClock, log, registry, ...(certificates && { certificates }) });
  await edge.start();
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    void edge.stop(0).finally(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.stdout.write(JSON.stringify({ ready: true, pid: process.pid, httpPort, tcpPort }) + '\n');
}

main().catch((err: unknown) => {
  process.stderr.write(`bulwark-proxy: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
