/** Turning runs into medians, the results table, the interpretation and docs/benchmarks.md. */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';

export type Mode = 'keep-alive' | 'new-conn';
export const MODES: readonly Mode[] = ['keep-alive', 'new-conn'];

export interface Run {
  target: string;
  mode: Mode;
  round: number;
  requests: number;
  seconds: number;
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  /** Proxy process CPU over the run, seconds (undefined for the direct baseline). */
  cpu: number | undefined;
  /** Busy share of each core over the run. */
  cores: number[];
}

/**
 * Load on the proxy's core from other programs on this machine: core 0's busy time beyond the
 * proxy's own CPU. (With tick-based accounting the proxy's CPU time already includes the softirq
 * work run in its context, e.g. the loopback delivery of its own sends, although /proc/stat files
 * those ticks under softirq.) Above DISTURBED the run is set aside when the same target and mode
 * has undisturbed runs.
 */
export const DISTURBED = 0.2;
export function foreignLoad(r: Run): number {
  const core0 = r.cores[0] ?? 0;
  return Math.max(0, r.cpu === undefined ? core0 : core0 - r.cpu / r.seconds);
}

export interface Row {
  target: string;
  mode: Mode;
  /** Runs the medians are taken over (undisturbed ones when there are any) / runs made. */
  rounds: number;
  totalRounds: number;
  /** No run was free of other load on the proxy's core. */
  allDisturbed: boolean;
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  requests: number;
  cpuUs: number | undefined;
  cpuUsMin: number | undefined;
  cpuUsMax: number | undefined;
  /** Median share of core 0 taken by other programs (foreignLoad). */
  foreign: number;
  /** Proxy CPU as a share of wall time (1 = one core). */
  cpuShare: number | undefined;
  cores: number[];
  xDirect: number | undefined;
  xHaproxy: number | undefined;
  peer: string | undefined;
}

export function median(xs: readonly number[]): number {
  const s = [...xs].filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Which HAProxy row a target's CPU/req is compared with. */
export function peerOf(target: string): string | undefined {
  if (target.startsWith('direct')) return undefined;
  if (target.endsWith('-h2')) return 'haproxy-h2';
  if (target.endsWith('https')) return 'haproxy-https';
  return target.endsWith('tcp') ? 'haproxy-tcp' : 'haproxy-http';
}

export function aggregate(runs: readonly Run[], targets: readonly string[], modes: readonly Mode[]): Row[] {
  const rows: Row[] = [];
  for (const mode of modes) {
    for (const target of targets) {
      const made = runs.filter((r) => r.target === target && r.mode === mode);
      if (made.length === 0) continue;
      const clean = made.filter((r) => foreignLoad(r) <= DISTURBED);
      const rs = clean.length > 0 ? clean : made;
      const perReq = rs.filter((r) => r.cpu !== undefined && r.requests > 0).map((r) => (r.cpu! / r.requests) * 1e6);
      const cores = (rs[0]!.cores ?? []).map((_, i) => median(rs.map((r) => r.cores[i] ?? NaN)));
      rows.push({
        target, mode, rounds: rs.length, totalRounds: made.length, allDisturbed: clean.length === 0,
        rps: median(rs.map((r) => r.rps)),
        p50: median(rs.map((r) => r.p50)),
        p99: median(rs.map((r) => r.p99)),
        errors: rs.reduce((a, r) => a + r.errors, 0),
        requests: rs.reduce((a, r) => a + r.requests, 0),
        cpuUs: perReq.length ? median(perReq) : undefined,
        cpuUsMin: perReq.length ? Math.min(...perReq) : undefined,
        cpuUsMax: perReq.length ? Math.max(...perReq) : undefined,
        cpuShare: perReq.length ? median(rs.map((r) => r.cpu! / r.seconds)) : undefined,
        foreign: median(rs.map(foreignLoad)),
        cores, xDirect: undefined, xHaproxy: undefined, peer: peerOf(target),
      });
    }
  }
  for (const row of rows) {
    // HTTP/2 rows are measured with h2load: their baseline is h2load at the backend.
    const baseline = row.target.endsWith('-h2') ? 'direct-h2load' : 'direct';
    const direct = rows.find((r) => r.target === baseline && r.mode === row.mode);
    if (direct && !row.target.startsWith('direct')) row.xDirect = row.rps / direct.rps;
    const peer = rows.find((r) => r.target === row.peer && r.mode === row.mode);
    if (peer?.cpuUs && row.cpuUs !== undefined) row.xHaproxy = row.cpuUs / peer.cpuUs;
  }
  return rows;
}

const f0 = (x: number | undefined): string => (x === undefined || !Number.isFinite(x) ? '—' : Math.round(x).toLocaleString('en-US'));
const f1 = (x: number | undefined): string => (x === undefined || !Number.isFinite(x) ? '—' : x.toFixed(1));
const f2 = (x: number | undefined): string => (x === undefined || !Number.isFinite(x) ? '—' : x.toFixed(2));
const pct = (x: number | undefined): string => (x === undefined || !Number.isFinite(x) ? '—' : `${Math.round(x * 100)} %`);

export function table(rows: readonly Row[]): string {
  const head = [
    'target', 'connections', 'clean runs', 'req/s', '× direct', 'p50 ms', 'p99 ms', 'errors',
    'proxy CPU µs/req (min–max)', '× HAProxy CPU/req', 'proxy CPU', 'core 0 / core 1 busy',
  ];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map((h, i) => (i <= 1 ? '---' : '---:')).join('|')}|`];
  for (const r of rows) {
    const cpu = r.cpuUs === undefined ? '—' : `${f1(r.cpuUs)} (${f1(r.cpuUsMin)}–${f1(r.cpuUsMax)})`;
    const vs = r.xHaproxy === undefined ? '—' : `${f2(r.xHaproxy)}× (${r.peer?.replace('haproxy-', '') ?? ''})`;
    lines.push(`| ${[
      r.target, r.mode, `${r.allDisturbed ? 0 : r.rounds}/${r.totalRounds}${r.allDisturbed ? ' (all used)' : ''}`, f0(r.rps), f2(r.xDirect), f2(r.p50), f2(r.p99), String(r.errors), cpu, vs, pct(r.cpuShare),
      r.cores.length >= 2 ? `${pct(r.cores[0])} / ${pct(r.cores[1])}` : '—',
    ].join(' | ')} |`);
  }
  return lines.join('\n');
}

/** A few sentences computed from the numbers; nothing here is decided in advance. */
export function interpret(rows: readonly Row[], runs: readonly Run[] = []): string {
  const get = (t: string, m: Mode): Row | undefined => rows.find((r) => r.target === t && r.mode === m);
  const out: string[] = [];
  const goal = (ok: boolean): string => (ok ? 'met' : 'not met');
  for (const mode of MODES) {
    for (const [ours, peerName] of [['bulwark-http', 'HAProxy http'], ['bulwark-tcp', 'HAProxy tcp'], ['bulwark-https', 'HAProxy https'], ['bulwark-h2', 'HAProxy h2']] as const) {
      const r = get(ours, mode);
      if (!r || r.cpuUs === undefined) continue;
      let s = `**${ours} ${mode}**: ${f1(r.cpuUs)} µs/req`;
      if (r.xHaproxy !== undefined) s += ` = ${f2(r.xHaproxy)}× ${peerName}`;
      if (r.xDirect !== undefined) s += `; ${f2(r.xDirect)}× direct req/s (${f0(r.rps)} req/s)`;
      if (mode === 'keep-alive' && ours === 'bulwark-http' && r.xHaproxy !== undefined && r.xDirect !== undefined) {
        s += ` — goal ≤ 1.25× HAProxy CPU/req ${goal(r.xHaproxy <= 1.25)}, goal ≥ 0.6× direct req/s ${goal(r.xDirect >= 0.6)}`;
      }
      if (r.errors > 0) s += `; ${r.errors} errors`;
      out.push(s + '.');
    }
  }
  for (const mode of MODES) {
    for (const kind of ['http', 'tcp']) {
      const now = get(`bulwark-${kind}`, mode);
      const base = get(`base-${kind}`, mode);
      if (now?.cpuUs === undefined || base?.cpuUs === undefined) continue;
      const d = (now.cpuUs / base.cpuUs - 1) * 100;
      let s = `Before/after (--compare): bulwark-${kind} ${mode} ${f1(now.cpuUs)} µs/req vs base ${f1(base.cpuUs)} µs/req (${d >= 0 ? '+' : ''}${d.toFixed(1)} %); ${f0(now.rps)} vs ${f0(base.rps)} req/s`;
      // Paired by round (both ran back to back under the same background load): the steadier figure.
      const ratios: number[] = [];
      for (const r of runs.filter((x) => x.target === `bulwark-${kind}` && x.mode === mode && x.cpu !== undefined)) {
        const b = runs.find((x) => x.target === `base-${kind}` && x.mode === mode && x.round === r.round && x.cpu !== undefined);
        if (b) ratios.push((r.cpu! / r.requests) / (b.cpu! / b.requests));
      }
      if (ratios.length > 0) {
        s += `; paired by round, CPU/req after ÷ before = ${f2(median(ratios))} (${f2(Math.min(...ratios))}–${f2(Math.max(...ratios))}, ${ratios.length} rounds, disturbed ones included)`;
      }
      out.push(s + '.');
    }
  }
  for (const mode of MODES) {
    const plain = get('bulwark-http', mode);
    const fw = get('bulwark-http-fw', mode);
    if (plain === undefined || fw === undefined) continue;
    const rpsCost = (1 - fw.rps / plain.rps) * 100;
    let s = `**Edge firewall ${mode}** (lists, rate limit, connection cap and bans configured, never triggered): ${f0(fw.rps)} vs ${f0(plain.rps)} req/s without = ${Math.abs(rpsCost).toFixed(1)} % ${rpsCost >= 0 ? 'slower' : 'faster'}`;
    if (fw.cpuUs !== undefined && plain.cpuUs !== undefined) s += `; ${f1(fw.cpuUs)} vs ${f1(plain.cpuUs)} µs/req`;
    out.push(`${s} — goal under 5 % slower ${goal(rpsCost < 5)}.`);
  }
  for (const mode of MODES) {
    const on = get('bulwark-http-metrics', mode);
    const off = get('bulwark-http-nometrics', mode);
    if (on === undefined || off === undefined) continue;
    const rpsCost = (1 - on.rps / off.rps) * 100;
    let s = `**Metrics ${mode}** (per-request counters and histogram, registry scraped every second): ${f0(on.rps)} vs ${f0(off.rps)} req/s with them off = ${Math.abs(rpsCost).toFixed(1)} % ${rpsCost >= 0 ? 'slower' : 'faster'}`;
    if (on.cpuUs !== undefined && off.cpuUs !== undefined) s += `; ${f1(on.cpuUs)} vs ${f1(off.cpuUs)} µs/req (${(((on.cpuUs / off.cpuUs) - 1) * 100).toFixed(1)} % CPU)`;
    out.push(`${s} — goal under 5 % ${goal(rpsCost < 5)}.`);
  }
  const h1tls = get('bulwark-https', 'keep-alive');
  const h2 = get('bulwark-h2', 'keep-alive');
  if (h1tls?.cpuUs !== undefined && h2?.cpuUs !== undefined) {
    const hapH1 = get('haproxy-https', 'keep-alive');
    const hapH2 = get('haproxy-h2', 'keep-alive');
    let s = `**HTTP/2 vs HTTP/1.1 over TLS** (same Bulwark frontend and process): ${f1(h2.cpuUs)} vs ${f1(h1tls.cpuUs)} µs/req (${f2(h2.cpuUs / h1tls.cpuUs)}×)`;
    if (hapH1?.cpuUs !== undefined && hapH2?.cpuUs !== undefined) s += `; HAProxy ${f1(hapH2.cpuUs)} vs ${f1(hapH1.cpuUs)} µs/req (${f2(hapH2.cpuUs / hapH1.cpuUs)}×)`;
    out.push(s + '.');
  }
  const floor = get('node-h2', 'keep-alive');
  if (h2?.cpuUs !== undefined && floor?.cpuUs !== undefined) {
    out.push(`**node's own HTTP/2 floor**: node:http2 answering by itself (TLS, HTTP/2, no proxying) costs ${f1(floor.cpuUs)} µs/req, so of bulwark-h2's ${f1(h2.cpuUs)} µs/req ${f1(h2.cpuUs - floor.cpuUs)} µs are the proxy's own work (${pct(1 - floor.cpuUs / h2.cpuUs)}).`);
  }
  const nginx = get('nginx', 'keep-alive');
  const hap = get('haproxy-http', 'keep-alive');
  if (nginx?.cpuUs !== undefined && hap?.cpuUs !== undefined) {
    out.push(`For scale, nginx keep-alive costs ${f1(nginx.cpuUs)} µs/req (${f2(nginx.cpuUs / hap.cpuUs)}× HAProxy http, ${f1(hap.cpuUs)} µs/req).`);
  }
  // What bounds the request rate: the proxy's core or the core shared by wrk and the backends.
  const bound: string[] = [];
  for (const r of rows) {
    if (r.target.startsWith('direct') || r.cores.length < 2) continue;
    const proxyCore = r.cpuShare ?? r.cores[0]!;
    if (proxyCore >= 0.95) bound.push(`${r.target} ${r.mode} saturates its core (${pct(proxyCore)})`);
    else if (r.cores[0]! >= 0.95) bound.push(`${r.target} ${r.mode}: core 0 full (proxy ${pct(proxyCore)}, other programs ${pct(r.foreign)})`);
    else if (r.cores[1]! >= 0.95) bound.push(`${r.target} ${r.mode} is bounded by core 1 (wrk + backends ${pct(r.cores[1])}, proxy ${pct(proxyCore)})`);
  }
  if (bound.length) out.push(`Rate limits: ${bound.join('; ')}. Where the load core is the limit, req/s ratios understate the proxy and CPU µs/req is the fairer comparison.`);
  const setAside = rows.filter((r) => r.rounds < r.totalRounds);
  if (setAside.length) {
    out.push(`Runs set aside because other load took more than ${pct(DISTURBED)} of the proxy's core: ${setAside.map((r) => `${r.target} ${r.mode} ${r.totalRounds - r.rounds} of ${r.totalRounds}`).join(', ')}.`);
  }
  const allDisturbed = rows.filter((r) => r.allDisturbed);
  if (allDisturbed.length) {
    out.push(`Every run of ${allDisturbed.map((r) => `${r.target} ${r.mode}`).join(', ')} had more than ${pct(DISTURBED)} other load on core 0: those numbers are the least reliable.`);
  }
  const noisy = rows.filter((r) => r.cpuUs !== undefined && r.rounds > 1 && (r.cpuUsMax! - r.cpuUsMin!) / r.cpuUs! > 0.15);
  if (noisy.length) out.push(`Noisy (CPU/req spread > 15 % across rounds): ${noisy.map((r) => `${r.target} ${r.mode}`).join(', ')}; compare those with care.`);
  const errs = rows.filter((r) => r.errors > 0);
  if (errs.length) out.push(`Errors (non-2xx or socket errors) were seen for: ${errs.map((r) => `${r.target} ${r.mode} (${r.errors} of ${r.requests.toLocaleString('en-US')})`).join(', ')}.`);
  return out.join('\n\n');
}

export interface Machine {
  date: string;
  nproc: number;
  cpuModel: string;
  node: string;
  haproxy: string;
  nginx: string;
  kernel: string;
}

export function resultsSection(m: Machine, command: string, notes: readonly string[], rows: readonly Row[], runs: readonly Run[] = []): string {
  return [
    `## Results (${m.date})`,
    '',
    `- Machine: ${m.nproc} cores, ${m.cpuModel}, Linux ${m.kernel}`,
    `- Node ${m.node}; ${m.haproxy}; ${m.nginx}`,
    `- Command: \`${command}\``,
    ...notes.map((n) => `- ${n}`),
    '',
    table(rows),
    '',
    '### Interpretation (computed from the table above)',
    '',
    interpret(rows, runs),
    '',
  ].join('\n');
}

const BEGIN = '<!-- bench:results:begin (written by `npm run bench`; everything up to the end marker is replaced) -->';
const END = '<!-- bench:results:end -->';

const METHOD = `# Benchmarks

\`npm run bench\` measures what the edge load balancer costs per request next to HAProxy and nginx,
with the methodology of /work/shared/FIELD-NOTES.md ("The yardsticks we must beat"):

- **Proxy CPU time per request** = CPU time of the proxy process (utime + stime from
  \`/proc/<pid>/stat\`, all threads; nginx: master + worker) sampled right before and right after
  wrk, divided by the requests wrk completed. This is the number that decides how many requests a
  core can carry, and it does not depend on how fast the load generator is.
- The proxy runs alone on core 0 (\`taskset -c 0\`); wrk (\`-t1 -c64\`) and the two backends share
  core 1 (\`taskset -c 1\`). One proxy process / one thread, round robin over two servers, no
  logging. Every target is checked (four GETs, 200, ~100-byte body, both backends seen) and
  warmed up before it is timed.
- Two connection modes: **keep-alive** (wrk reuses its 64 connections) and **new-conn**
  (\`-H 'Connection: close'\`: a new client connection per request; proxies keep their server-side
  connections where they can).
- Targets: \`direct\` (wrk straight at one backend: the baseline), \`bulwark-http\`, \`bulwark-tcp\`
  (the L4 mode), \`haproxy-http\` (2.6, \`mode http\`, \`nbthread 1\`, \`http-reuse always\`),
  \`haproxy-tcp\`, and \`nginx\` (1 worker, \`upstream keepalive 128\`, \`proxy_http_version 1.1\`,
  Connection header cleared) when installed.
- HTTPS: \`bulwark-https\`, \`haproxy-https\` and \`nginx-https\` terminate TLS with the same ECDSA
  P-256 certificate (from a throwaway CA made for the run), TLS 1.2/1.3, in front of the same
  backends over plain HTTP (new-conn: a full handshake per request; wrk does not resume sessions).
- HTTP/2 (when \`h2load\` is installed: Debian's \`nghttp2-client\`): \`bulwark-h2\`, \`haproxy-h2\`
  and \`nginx-h2\` are the same HTTPS frontends measured with \`h2load -t1 -c8 -m8\` (8 TLS
  connections × 8 streams in flight), keep-alive only; \`direct-h2load\` is h2load speaking
  HTTP/1.1 straight to one backend (\`--h1 -c64 -m1\`). h2load prints no latency percentiles.
  \`node-h2\` is node's own HTTP/2 server (\`node:http2\`, the same core API the edge uses)
  answering the 100-byte body itself: not a proxy, the floor node sets under \`bulwark-h2\`.
- Backends: one nginx (1 worker) serving a static 100-byte file on two ports, with
  \`keepalive_requests\` raised so keep-alive connections are never closed by count. nginx rather
  than a Node server because it needs a fraction of the CPU per request on the core it shares
  with wrk, so the backends do not become the bottleneck and the direct baseline is stable.
  (\`--backend node\` uses a minimal node:http server instead; it is also the fallback when nginx
  is missing.)
- Rounds are interleaved (every target once per round) and the table shows medians per metric;
  the CPU/req column also shows the min–max over rounds. A run is *disturbed* when other load
  (programs outside the benchmark) took more than 20 % of core 0 during it (core 0 busy time minus
  the proxy's own CPU); medians use the clean runs when there are any ("clean runs" column), all
  runs otherwise. CPU/req rises when the proxy shares its core (fewer events per wake-up), so
  disturbed numbers overstate every proxy's cost. Read differences below ~10 % as noise on a
  shared 2-core machine.
- On this kernel (tick-based CPU accounting, no IRQ_TIME_ACCOUNTING) the process CPU includes
  the softirq work run in the proxy's context, notably the loopback delivery of its own sends
  (the receiving side's TCP work), even though /proc/stat files those ticks under softirq.
- \`--compare DIR\` runs a second build (e.g. a copy of the tree before a change, built) as
  \`base-http\`/\`base-tcp\` in the same rounds; the before/after ratio is paired by round so both
  sides saw the same background load.
- Goal tracked by the project: bulwark http keep-alive within **1.25×** HAProxy's CPU per
  request and at least **0.6×** the direct baseline's req/s.

Options: \`--quick\` (3 s runs, 1 round), \`--rounds N\` (default 3), \`--duration S\` (default 10,
shortened automatically so the whole run stays under 6 minutes unless given explicitly),
\`--targets a,b\`, \`--modes keep-alive,new-conn\`, \`--backend nginx|node\`, \`--port-base N\`
(default 21000), \`--profile\` (runs the bulwark proxy under \`node --cpu-prof\` and prints the
hottest functions), \`--compare DIR\` (see above), \`--connections N\`, \`--keep\` (keep the temp dir
with the generated configs), \`--no-docs\` (do not rewrite this file; runs limited with
\`--targets\`/\`--modes\`/\`--profile\`/\`--compare\` never rewrite it unless \`--docs\` is given).
\`BULWARK_BENCH_NODE_FLAGS\` passes extra flags to the Bulwark proxy's node (e.g. \`--perf-basic-prof\`).

`;

export function writeDocs(path: string, section: string): void {
  const block = `${BEGIN}\n${section}\n${END}\n`;
  if (existsSync(path)) {
    const text = readFileSync(path, 'utf8');
    const a = text.indexOf('<!-- bench:results:begin');
    const b = text.indexOf(END);
    if (a >= 0 && b > a) {
      writeFileSync(path, text.slice(0, a) + block + text.slice(b + END.length).replace(/^\n/, ''));
      return;
    }
  }
  writeFileSync(path, METHOD + block);
}
