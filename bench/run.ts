/**
 * `npm run bench`: Bulwark's edge next to HAProxy and nginx, measured as proxy CPU time per
 * request (the methodology of FIELD-NOTES.md, "The yardsticks we must beat"). See
 * docs/benchmarks.md for what is measured and how; `--help` for the options.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkH2Target, checkTarget } from './check.js';
import { ClusterCa } from '../src/control-plane/certs/index.js';
import { CERT_FILES, backendBody, haproxyConf, nginxBackendConf, nginxProxyConf, portsFrom, type Ports } from './configs.js';
import { childrenOf, coreShares, coreTimes, cpuSeconds } from './cpu.js';
import { ProcessGroup, portFree, waitForPort, type Managed } from './procs.js';
import { formatSummary } from './profile-summary.js';
import { aggregate, DISTURBED, foreignLoad, interpret, MODES, resultsSection, table, writeDocs, type Machine, type Mode, type Run } from './report.js';
import { runWrk } from './wrk.js';
import { runH2load, type H2loadResult } from './h2load.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const ALL_TARGETS = [
  'direct', 'bulwark-http', 'bulwark-http-metrics', 'bulwark-http-nometrics', 'bulwark-http-fw', 'bulwark-tcp', 'bulwark-https', 'haproxy-http', 'haproxy-tcp', 'haproxy-https', 'nginx', 'nginx-https',
  'direct-h2load', 'bulwark-h2', 'haproxy-h2', 'nginx-h2', 'node-h2',
] as const;
/**
 * Measured with h2load (keep-alive only): HTTP/2 over TLS to the proxies, H2_CLIENTS connections
 * with H2_STREAMS requests in flight on each (as many in flight as wrk's 64 connections);
 * direct-h2load is h2load speaking HTTP/1.1 to one backend, H2_CLIENTS × H2_STREAMS connections.
 */
const H2_TARGETS = new Set<string>(['direct-h2load', 'bulwark-h2', 'haproxy-h2', 'nginx-h2', 'node-h2']);
const H2_CLIENTS = 8;
const H2_STREAMS = 8;
const isH2 = (t: string): boolean => H2_TARGETS.has(t);
/** With --compare DIR: the same proxy built from another tree, for interleaved before/after runs. */
const BASE_TARGETS = ['base-http', 'base-tcp'] as const;
type TargetName = (typeof ALL_TARGETS)[number] | (typeof BASE_TARGETS)[number];
/** The metrics on/off twins: their own processes (see where they start). */
const TWINS = new Set<string>(['bulwark-http-metrics', 'bulwark-http-nometrics']);
const isNodeProxy = (t: string): boolean => t.startsWith('bulwark') || t.startsWith('base');

/** Whole-run bounds from the brief: default < 6 min, --quick < 90 s (wrk time + fixed overhead). */
const WRK_BUDGET_S = { full: 325, quick: 70 };

interface Options {
  quick: boolean;
  rounds: number;
  duration: number;
  durationGiven: boolean;
  connections: number;
  targets: TargetName[];
  modes: Mode[];
  backend: 'nginx' | 'node';
  portBase: number;
  profile: boolean;
  /** Root of another build (with dist/bench/bulwark-proxy.js) to run as base-http / base-tcp. */
  compare: string | undefined;
  docs: boolean;
  keep: boolean;
}

const HELP = `usage: npm run bench -- [options]
  --quick              3 s runs, 1 round (< 90 s in all)
  --rounds N           rounds per target and mode, median reported (default 3; 1 with --quick)
  --duration S         seconds per wrk run (default 10, or 3 with --quick; shortened to fit
                       6 minutes unless given explicitly)
  --connections N      wrk connections (default 64)
  --targets a,b        subset of ${ALL_TARGETS.join(',')}
  --modes m,n          subset of keep-alive,new-conn
  --backend nginx|node what serves the 100-byte bodies (default nginx when installed)
  --port-base N        ports N+1.. N+30 on 127.0.0.1 (default 21000)
  --profile            run the bulwark proxy under node --cpu-prof and print its hot spots
  --compare DIR        also run DIR/dist/bench/bulwark-proxy.js (another build, e.g. a copy of
                       dist before a change; DIR needs package.json and node_modules) as
                       base-http / base-tcp, interleaved with the current build
  --no-docs / --docs   do not / do rewrite docs/benchmarks.md (default: only for full runs)
  --keep               keep the temp dir (configs, logs)`;

function parseArgs(argv: readonly string[]): Options {
  const has = (f: string): boolean => argv.includes(f);
  const val = (f: string): string | undefined => {
    const i = argv.indexOf(f);
    if (i < 0) return undefined;
    const v = argv[i + 1];
    if (v === undefined || v.startsWith('--')) throw new Error(`${f} needs a value`);
    return v;
  };
  const known = new Set(['--quick', '--rounds', '--duration', '--connections', '--targets', '--modes', '--backend', '--port-base', '--profile', '--compare', '--no-docs', '--docs', '--keep', '--help', '-h']);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('-')) continue;
    if (!known.has(a)) throw new Error(`unknown option ${a}\n${HELP}`);
  }
  if (has('--help') || has('-h')) {
    process.stdout.write(HELP + '\n');
    process.exit(0);
  }
  const quick = has('--quick');
  const num = (f: string, d: number): number => {
    const v = val(f);
    if (v === undefined) return d;
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`${f} expects a positive number, got ${v}`);
    return n;
  };
  const list = <T extends string>(f: string, all: readonly T[]): T[] => {
    const v = val(f);
    if (v === undefined) return [...all];
    const items = v.split(',').map((s) => s.trim()).filter(Boolean);
    for (const x of items) if (!all.includes(x as T)) throw new Error(`${f}: unknown ${JSON.stringify(x)} (choose from ${all.join(', ')})`);
    return items as T[];
  };
  const backend = val('--backend') ?? 'nginx';
  if (backend !== 'nginx' && backend !== 'node') throw new Error('--backend is nginx or node');
  const compare = val('--compare');
  const partial = val('--targets') !== undefined || val('--modes') !== undefined || has('--profile') || compare !== undefined;
  return {
    quick,
    rounds: Math.round(num('--rounds', quick ? 1 : 3)),
    duration: Math.round(num('--duration', quick ? 3 : 10)),
    durationGiven: val('--duration') !== undefined,
    connections: Math.round(num('--connections', 64)),
    targets: [
      ...list<TargetName>('--targets', ALL_TARGETS),
      ...(compare === undefined ? [] : BASE_TARGETS.filter((t) => val('--targets') === undefined || val('--targets')!.includes(t.replace('base', 'bulwark')))),
    ],
    modes: list('--modes', MODES),
    backend,
    portBase: Math.round(num('--port-base', 21000)),
    profile: has('--profile'),
    compare,
    docs: has('--docs') || (!has('--no-docs') && !partial),
    keep: has('--keep'),
  };
}

function which(cmd: string): string | undefined {
  try {
    return execFileSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

/** wrk, haproxy and nginx from apt when missing (only as root on Debian). */
function ensureTools(): void {
  const missing = ['wrk', 'haproxy', 'nginx'].filter((c) => !which(c));
  if (missing.length === 0) return;
  const debian = existsSync('/etc/debian_version');
  if (process.getuid?.() === 0 && debian) {
    process.stdout.write(`installing ${missing.join(', ')} with apt-get …\n`);
    try {
      execFileSync('apt-get', ['install', '-y', ...missing], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    } catch {
      process.stdout.write('apt-get install failed; continuing with what is installed\n');
    }
  } else {
    process.stdout.write(`not installed: ${missing.join(', ')} (install with: apt-get install -y ${missing.join(' ')})\n`);
  }
  if (!which('wrk')) throw new Error('wrk is required');
}

function version(cmd: string, args: string[], re: RegExp, fallback: string): string {
  try {
    const out = execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return re.exec(out)?.[1] ?? fallback;
  } catch (err) {
    const e = err as { stderr?: string; stdout?: string };
    return re.exec(`${e.stdout ?? ''}${e.stderr ?? ''}`)?.[1] ?? fallback;
  }
}

function nginxVersion(): string {
  try {
    // nginx -v writes to stderr.
    const out = execFileSync('sh', ['-c', 'nginx -v 2>&1'], { encoding: 'utf8' });
    return /nginx version: (\S+)/.exec(out)?.[1]?.replace('/', ' ') ?? 'nginx (unknown version)';
  } catch {
    return 'nginx not installed';
  }
}

function machine(): Machine {
  const model = /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? cpus()[0]?.model ?? 'unknown';
  return {
    date: new Date().toISOString().replace('T', ' ').slice(0, 16) + ' UTC',
    nproc: cpus().length,
    cpuModel: model.trim(),
    node: process.version,
    haproxy: which('haproxy') ? `HAProxy ${version('haproxy', ['-v'], /HAProxy version (\S+)/, '?')}` : 'HAProxy not installed',
    nginx: which('nginx') ? nginxVersion() : 'nginx not installed',
    kernel: release(),
  };
}

interface Target {
  name: TargetName;
  port: number;
  /** Served over TLS (https:// URLs, TLS checks). */
  secure?: boolean;
  /** PIDs whose CPU is the proxy's (empty for direct). */
  pids(): number[];
  proc: Managed | undefined;
}

/** h2load's connections and streams for an HTTP/2 target (HTTP/1.1 for the direct baseline). */
function h2Load(name: string): { clients: number; streams: number; h1: boolean } {
  return name === 'direct-h2load' ? { clients: H2_CLIENTS * H2_STREAMS, streams: 1, h1: true } : { clients: H2_CLIENTS, streams: H2_STREAMS, h1: false };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const log = (s: string): void => void process.stdout.write(s + '\n');

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const t0 = Date.now();
  ensureTools();
  const haveHaproxy = !!which('haproxy');
  const haveNginx = !!which('nginx');
  const pin = cpus().length >= 2;
  if (!pin) log('warning: fewer than 2 cores; running unpinned (numbers are not comparable with the field notes)');
  const proxyCpu = pin ? '0' : undefined;
  const loadCpu = pin ? '1' : undefined;
  const pinned = (cpu: string | undefined, cmd: string, args: string[]): [string, string[]] =>
    cpu === undefined ? [cmd, args] : ['taskset', ['-c', cpu, cmd, ...args]];

  const haveH2load = !!which('h2load');
  let targets = opts.targets.filter((t) => {
    if (t.startsWith('haproxy') && !haveHaproxy) return false;
    if (t.startsWith('nginx') && !haveNginx) return false;
    if (isH2(t) && !haveH2load) return false;
    return true;
  });
  const skipped = opts.targets.filter((t) => !targets.includes(t));
  if (skipped.length) log(`skipping (not installed): ${skipped.join(', ')}${haveH2load ? '' : ' (HTTP/2 figures need h2load: apt-get install -y nghttp2-client)'}`);
  /** h2load targets run in keep-alive mode only. */
  const runsIn = (t: string, mode: Mode): boolean => !isH2(t) || mode === 'keep-alive';
  const backendKind = opts.backend === 'nginx' && haveNginx ? 'nginx' : 'node';

  // Fit the plan into the time bound unless the duration was chosen explicitly.
  const runs = targets.reduce((n, t) => n + opts.modes.filter((m) => runsIn(t, m)).length, 0) * opts.rounds;
  const warmups = targets.length + targets.filter(isNodeProxy).length;
  const notes: string[] = [];
  let duration = opts.duration;
  if (!opts.durationGiven) {
    const budget = (opts.quick ? WRK_BUDGET_S.quick : WRK_BUDGET_S.full) - warmups;
    const fit = Math.max(2, Math.floor(budget / Math.max(1, runs)));
    if (fit < duration) {
      notes.push(`${runs} runs × ${duration} s would break the ${opts.quick ? '90-second' : '6-minute'} bound; each run lasts ${fit} s instead (pass --duration to override)`);
      duration = fit;
    }
  }
  notes.unshift(`wrk -t1 -c${opts.connections} -d${duration}s --latency, ${opts.rounds} round(s) interleaved, median reported; backends: ${backendKind === 'nginx' ? 'nginx (1 worker) serving a static 100-byte file' : 'node:http (1 process)'} on two ports`);
  if (targets.some(isH2)) {
    notes.splice(1, 0, `HTTP/2 rows (*-h2, direct-h2load): h2load -t1 -c${H2_CLIENTS} -m${H2_STREAMS} -D ${duration} (${H2_CLIENTS} TLS connections × ${H2_STREAMS} streams in flight), keep-alive only; direct-h2load: h2load --h1 -c${H2_CLIENTS * H2_STREAMS} -m1 at one backend; h2load reports no latency percentiles (p50/p99 —)`);
  }
  for (const n of notes) log(`note: ${n}`);
  log(`plan: ${targets.join(', ')} × ${opts.modes.join(', ')} × ${opts.rounds} round(s) × ${duration} s ≈ ${Math.round((runs * duration + warmups) / 6) / 10} min of load`);

  const group = new ProcessGroup();
  const dir = mkdtempSync(join(tmpdir(), 'bulwark-bench-'));
  chmodSync(dir, 0o755); // nginx workers run as nobody and must read the static files
  process.on('exit', () => group.killAllSync());
  let interrupted = false;
  const onSignal = (sig: string): void => {
    if (interrupted) return;
    interrupted = true;
    log(`\n${sig}: stopping everything this benchmark started …`);
    void group.stopAll().finally(() => {
      if (!opts.keep) rmSync(dir, { recursive: true, force: true });
      process.exit(130);
    });
  };
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGHUP', () => onSignal('SIGHUP'));

  const ports: Ports = portsFrom(opts.portBase);
  try {
    for (const [name, port] of Object.entries(ports)) {
      if (!(await portFree(port))) throw new Error(`port ${port} (${name}) on 127.0.0.1 is in use; pick other ports with --port-base`);
    }

    // ── Backends (core 1, with wrk) ─────────────────────────────────────────────────────────
    for (const w of ['a', 'b'] as const) {
      mkdirSync(join(dir, `www-${w}`), { mode: 0o755 });
      writeFileSync(join(dir, `www-${w}`, 'index.html'), backendBody(w === 'a' ? 'A' : 'B'), { mode: 0o644 });
    }
    let backendProc: Managed;
    if (backendKind === 'nginx') {
      writeFileSync(join(dir, 'backend.conf'), nginxBackendConf(dir, ports));
      backendProc = group.start('nginx backends', ...pinned(loadCpu, 'nginx', ['-p', dir, '-e', join(dir, 'backend-startup.log'), '-c', join(dir, 'backend.conf')]));
    } else {
      backendProc = group.start('node backends', ...pinned(loadCpu, process.execPath, [join(REPO, 'dist/bench/node-backend.js'), '--ports', `${ports.backendA},${ports.backendB}`]));
    }
    await waitForPort(ports.backendA, 10_000, backendProc);
    await waitForPort(ports.backendB, 10_000, backendProc);
    if (backendKind === 'nginx') for (const pid of childrenOf(backendProc.pid)) group.adopt(pid);

    // One certificate for every HTTPS target, from a throwaway CA (ECDSA P-256 for all of them).
    const ca = await ClusterCa.ensure(join(dir, 'pki'), 'bench');
    const cert = await ca.issue({ commonName: '127.0.0.1', names: ['127.0.0.1', 'localhost'], usage: 'server', days: 2 });
    writeFileSync(join(dir, CERT_FILES.cert), cert.certPem);
    writeFileSync(join(dir, CERT_FILES.key), cert.keyPem, { mode: 0o600 });
    writeFileSync(join(dir, CERT_FILES.pem), cert.certPem + cert.keyPem, { mode: 0o600 });

    // ── Proxies (core 0) ────────────────────────────────────────────────────────────────────
    const all: Target[] = [
      { name: 'direct', port: ports.backendA, pids: () => [], proc: undefined },
      { name: 'direct-h2load', port: ports.backendA, pids: () => [], proc: undefined },
    ];
    if (targets.some((t) => t.startsWith('bulwark') && !TWINS.has(t))) {
      const profDir = join(dir, 'prof');
      // BULWARK_BENCH_NODE_FLAGS: extra node flags for the proxy (e.g. --perf-basic-prof for perf).
      const extra = (process.env.BULWARK_BENCH_NODE_FLAGS ?? '').split(/\s+/).filter(Boolean);
      const nodeFlags = [...extra, ...(opts.profile ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : [])];
      const p = group.start('bulwark', ...pinned(proxyCpu, process.execPath, [
        ...nodeFlags, join(REPO, 'dist/bench/bulwark-proxy.js'),
        '--http-port', String(ports.bulwarkHttp), '--tcp-port', String(ports.bulwarkTcp),
        '--servers', `127.0.0.1:${ports.backendA},127.0.0.1:${ports.backendB}`, '--dir', dir,
        // The same http frontend with an edge firewall, in the same process (bulwark-http-fw).
        '--firewall-port', String(ports.bulwarkHttp + 4),
        '--https-port', String(ports.bulwarkHttps),
        // Scraped every second like a monitored node.
        '--scrape-ms', '1000',
      ]), { cwd: REPO });
      await waitForPort(ports.bulwarkHttp, 15_000, p);
      await waitForPort(ports.bulwarkTcp, 15_000, p);
      all.push({ name: 'bulwark-http', port: ports.bulwarkHttp, pids: () => [p.pid], proc: p });
      all.push({ name: 'bulwark-http-fw', port: ports.bulwarkHttp + 4, pids: () => [p.pid], proc: p });
      all.push({ name: 'bulwark-tcp', port: ports.bulwarkTcp, pids: () => [p.pid], proc: p });
      all.push({ name: 'bulwark-https', port: ports.bulwarkHttps, secure: true, pids: () => [p.pid], proc: p });
      // The same HTTPS frontend: clients that offer h2 by ALPN get HTTP/2.
      all.push({ name: 'bulwark-h2', port: ports.bulwarkHttps, secure: true, pids: () => [p.pid], proc: p });
    }
    // The metrics cost is measured between two twin processes that differ only in metrics: the
    // main proxy above also serves TLS, HTTP/2 and the firewall frontend, whose code paths make
    // the shared request path's call sites polymorphic, which would be charged to metrics.
    const twin = async (name: 'bulwark-http-metrics' | 'bulwark-http-nometrics', port: number, flags: string[]): Promise<void> => {
      const p = group.start(name, ...pinned(proxyCpu, process.execPath, [
        join(REPO, 'dist/bench/bulwark-proxy.js'), ...flags,
        '--http-port', String(port), '--tcp-port', String(port + 1),
        '--servers', `127.0.0.1:${ports.backendA},127.0.0.1:${ports.backendB}`, '--dir', dir,
      ]), { cwd: REPO });
      await waitForPort(port, 15_000, p);
      all.push({ name, port, pids: () => [p.pid], proc: p });
    };
    // Scraped every second like a monitored node: the scrape is part of what metrics cost.
    if (targets.includes('bulwark-http-metrics')) await twin('bulwark-http-metrics', ports.bulwarkHttpMetrics, ['--scrape-ms', '1000']);
    if (targets.includes('bulwark-http-nometrics')) await twin('bulwark-http-nometrics', ports.bulwarkHttpNoMetrics, ['--no-metrics']);
    if (opts.compare !== undefined) {
      const script = join(opts.compare, 'dist/bench/bulwark-proxy.js');
      if (!existsSync(script)) throw new Error(`--compare: ${script} does not exist`);
      const p = group.start('bulwark (base)', ...pinned(proxyCpu, process.execPath, [
        script, '--http-port', String(ports.bulwarkHttp + 2), '--tcp-port', String(ports.bulwarkTcp + 2),
        '--servers', `127.0.0.1:${ports.backendA},127.0.0.1:${ports.backendB}`, '--dir', dir,
      ]), { cwd: opts.compare });
      await waitForPort(ports.bulwarkHttp + 2, 15_000, p);
      await waitForPort(ports.bulwarkTcp + 2, 15_000, p);
      all.push({ name: 'base-http', port: ports.bulwarkHttp + 2, pids: () => [p.pid], proc: p });
      all.push({ name: 'base-tcp', port: ports.bulwarkTcp + 2, pids: () => [p.pid], proc: p });
    }
    if (targets.includes('node-h2')) {
      // node's own HTTP/2 server answering by itself: the platform's floor under bulwark-h2.
      const p = group.start('node-h2', ...pinned(proxyCpu, process.execPath, [
        join(REPO, 'dist/bench/node-h2-server.js'), '--port', String(ports.nodeH2), '--dir', dir,
      ]), { cwd: REPO });
      await waitForPort(ports.nodeH2, 10_000, p);
      all.push({ name: 'node-h2', port: ports.nodeH2, secure: true, pids: () => [p.pid], proc: p });
    }
    if (targets.some((t) => t.startsWith('haproxy'))) {
      writeFileSync(join(dir, 'haproxy.cfg'), haproxyConf(ports, dir));
      const p = group.start('haproxy', ...pinned(proxyCpu, 'haproxy', ['-db', '-f', join(dir, 'haproxy.cfg')]));
      await waitForPort(ports.haproxyHttp, 10_000, p);
      await waitForPort(ports.haproxyTcp, 10_000, p);
      all.push({ name: 'haproxy-http', port: ports.haproxyHttp, pids: () => [p.pid], proc: p });
      all.push({ name: 'haproxy-tcp', port: ports.haproxyTcp, pids: () => [p.pid], proc: p });
      all.push({ name: 'haproxy-https', port: ports.haproxyHttps, secure: true, pids: () => [p.pid], proc: p });
      all.push({ name: 'haproxy-h2', port: ports.haproxyHttps, secure: true, pids: () => [p.pid], proc: p });
    }
    if (targets.some((t) => t.startsWith('nginx'))) {
      writeFileSync(join(dir, 'proxy.conf'), nginxProxyConf(dir, ports));
      const p = group.start('nginx proxy', ...pinned(proxyCpu, 'nginx', ['-p', dir, '-e', join(dir, 'proxy-startup.log'), '-c', join(dir, 'proxy.conf')]));
      await waitForPort(ports.nginxProxy, 10_000, p);
      const workers = childrenOf(p.pid);
      for (const pid of workers) group.adopt(pid);
      // Master + worker(s); the worker list is re-read at each sample in case one was respawned.
      all.push({ name: 'nginx', port: ports.nginxProxy, pids: () => [p.pid, ...childrenOf(p.pid)], proc: p });
      all.push({ name: 'nginx-https', port: ports.nginxHttps, secure: true, pids: () => [p.pid, ...childrenOf(p.pid)], proc: p });
      all.push({ name: 'nginx-h2', port: ports.nginxHttps, secure: true, pids: () => [p.pid, ...childrenOf(p.pid)], proc: p });
    }
    const byName = new Map(all.map((t) => [t.name, t]));
    targets = targets.filter((t) => byName.has(t));

    // ── Check, then warm up (JIT, pools) ────────────────────────────────────────────────────
    for (const name of targets) {
      const t = byName.get(name)!;
      const direct = name.startsWith('direct');
      if (isH2(name) && !direct) await checkH2Target(name, t.port, true, 15_000);
      else await checkTarget(name, t.port, !direct, 15_000, t.secure === true);
    }
    log(`all targets answer (200, 100-byte body${targets.length > 1 ? ', both backends behind each proxy' : ''}); warming up …`);
    for (const name of targets) {
      const t = byName.get(name)!;
      const url = `${t.secure ? 'https' : 'http'}://127.0.0.1:${t.port}/`;
      if (isH2(name)) {
        await runH2load(group, { url, seconds: 1, ...h2Load(name), cpu: loadCpu });
        continue;
      }
      await runWrk(group, { url, seconds: 1, connections: opts.connections, close: false, cpu: loadCpu });
      if (isNodeProxy(name) && opts.modes.includes('new-conn')) {
        await runWrk(group, { url, seconds: 1, connections: opts.connections, close: true, cpu: loadCpu });
      }
    }

    // ── Timed runs: every target once per round, order rotated per round ────────────────────
    const results: Run[] = [];
    for (let round = 1; round <= opts.rounds; round++) {
      for (const mode of opts.modes) {
        const order = targets.map((_, i) => targets[(i + round - 1) % targets.length]!);
        for (const name of order) {
          if (!runsIn(name, mode)) continue;
          const t = byName.get(name)!;
          if (t.proc && (t.proc.child.exitCode !== null || t.proc.child.signalCode !== null)) {
            throw new Error(`${t.proc.name} died:\n${t.proc.output()}`);
          }
          const pids = t.pids();
          const cpu0 = cpuSeconds(pids);
          const cores0 = coreTimes();
          const url = `${t.secure ? 'https' : 'http'}://127.0.0.1:${t.port}/`;
          const w = isH2(name)
            ? await runH2load(group, { url, seconds: duration, ...h2Load(name), cpu: loadCpu })
            : await runWrk(group, { url, seconds: duration, connections: opts.connections, close: mode === 'new-conn', cpu: loadCpu });
          const cpu1 = cpuSeconds(pids);
          const shares = coreShares(cores0, coreTimes());
          const cores = shares.map((c) => c.busy);
          const run: Run = {
            target: name, mode, round, requests: w.requests, seconds: w.seconds, rps: w.rps, p50: w.p50, p99: w.p99,
            errors: w.non2xx + w.socketErrors, cpu: name.startsWith('direct') ? undefined : cpu1 - cpu0, cores,
          };
          results.push(run);
          const per = run.cpu === undefined ? '' : `  ${((run.cpu / run.requests) * 1e6).toFixed(1)} µs/req (proxy ${Math.round((run.cpu / run.seconds) * 100)} % of a core)`;
          const latency = 'meanMs' in w ? `mean ${(w as H2loadResult).meanMs.toFixed(2)} ms` : `p50 ${w.p50.toFixed(2)} ms  p99 ${w.p99.toFixed(2)} ms`;
          log(`round ${round} ${mode.padEnd(10)} ${name.padEnd(13)} ${Math.round(w.rps).toString().padStart(7)} req/s  ${latency}  errors ${run.errors}${per}  cores ${cores.slice(0, 2).map((c) => Math.round(c * 100) + '%').join('/')}${foreignLoad(run) > DISTURBED ? `  [disturbed: ${Math.round(foreignLoad(run) * 100)} % other load on core 0]` : ''}`);
          await sleep(200);
        }
      }
    }

    // ── Report ──────────────────────────────────────────────────────────────────────────────
    const rows = aggregate(results, targets, opts.modes);
    const m = machine();
    const args = process.argv.slice(2).join(' ');
    const command = process.env.npm_lifecycle_event === 'bench' ? `npm run bench${args ? ` -- ${args}` : ''}` : `node dist/bench/run.js${args ? ` ${args}` : ''}`;
    log('');
    log(table(rows));
    log('');
    log(interpret(rows, results));
    if (opts.docs) {
      writeDocs(join(REPO, 'docs', 'benchmarks.md'), resultsSection(m, command, notes, rows, results));
      log('\nwrote docs/benchmarks.md');
    } else {
      log('\n(docs/benchmarks.md not rewritten: partial run; pass --docs to force)');
    }

    await group.stopAll();
    if (opts.profile) {
      const profDir = join(dir, 'prof');
      const files = existsSync(profDir) ? readdirSync(profDir).filter((f) => f.endsWith('.cpuprofile')) : [];
      if (files.length === 0) log('no CPU profile was written');
      for (const f of files) {
        const keep = join(tmpdir(), `bulwark-bench-${Date.now()}.cpuprofile`);
        copyFileSync(join(profDir, f), keep);
        log(`\n${formatSummary(keep, 30)}`);
      }
    }
    log(`\ndone in ${Math.round((Date.now() - t0) / 1000)} s`);
  } finally {
    await group.stopAll();
    if (opts.keep) log(`kept ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
