/**
 * `bulwark up`: the whole cluster on this machine. In the foreground it shows the nodes' logs as
 * one-liners and stops every node on Ctrl-C; with --detach it hands the work to a background
 * `up` process and returns once the cluster is healthy.
 */
import { CLI_MAIN } from '../bin-path.js';
import fs from 'node:fs';
import { ClusterCa, adminCredentials, caCertPath, caDirOf, nodeCredentials } from '../../control-plane/certs/index.js';
import { spawn } from 'node:child_process';
import type { ClusterSpec } from '../../config/types.js';
import { BulwarkError } from '../../core/errors.js';
import { createLogger, type Logger } from '../../core/log.js';
import { parseDuration } from '../../core/units.js';
import { CONFIG_OPTION, type Verb } from '../verb.js';
import { loadSpec } from '../context.js';
import { humanLogger, formatLogLine } from '../log-format.js';
import { collectStatus } from '../cluster-status.js';
import { renderStatus } from './status.js';
import { LocalCluster, controlRequest } from '../../node/local-cluster/local-cluster.js';
import { layoutOf } from '../../node/local-cluster/layout.js';
import { LogFollower } from '../../node/local-cluster/log-follower.js';
import { isAlive, readPidFile, writePidFile } from '../../node/local-cluster/processes.js';


async function alreadyRunning(spec: ClusterSpec): Promise<boolean> {
  try {
    await controlRequest(layoutOf(spec), 'GET', '/nodes');
    return true;
  } catch {
    return false;
  }
}

/** Wait until every node reports healthy; reports progress once per change. */
async function waitHealthy(spec: ClusterSpec, timeoutMs: number, log: Logger, alive: () => boolean): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  const seen = new Set<string>();
  while (Date.now() < deadline && alive()) {
    const view = await collectStatus(spec, 1000);
    for (const n of view.nodes) {
      if (n.healthy && !seen.has(n.name)) {
        seen.add(n.name);
        log.debug({ node: n.name }, `${n.name} healthy: ${n.detail}`);
      }
    }
    if (view.nodes.every((n) => n.healthy)) return true;
    await new Promise((r) => setTimeout(r, 250));
  }
  return false;
}

async function printSummary(spec: ClusterSpec): Promise<void> {
  const view = await collectStatus(spec);
  console.log('\n' + renderStatus(view));
  if (view.edge?.httpsUrl) {
    const ca = caCertPath(caDirOf(spec));
    console.log(`\nThe site: ${view.edge.httpsUrl}/   (try: curl --cacert ${ca} ${view.edge.httpsUrl}/api/whoami; bulwark certs ca says how to trust the CA)`);
    console.log(`Plain HTTP on ${view.edge.url}/ redirects there.`);
  } else if (view.edge) console.log(`\nThe site: ${view.edge.url}/   (try: curl ${view.edge.url}/api/whoami)`);
  if (view.monitor) console.log(`The dashboard: ${view.monitor.url}/   (the cluster CA's certificate; see docs/monitoring.md)`);
  console.log(`State and logs: ${spec.stateDir}`);
}

export const up: Verb = {
  name: 'up',
  summary: 'Start every node of the cluster file on this machine (each its own process on its own address).',
  options: {
    config: CONFIG_OPTION,
    detach: { type: 'boolean', short: 'd', description: 'run in the background; `bulwark down` stops it' },
    timeout: { type: 'string', description: 'how long to wait for every node to be healthy (default 60s)', valueName: 'DURATION' },
  },
  details: 'Logs: <state>/nodes/<node>/node.log (JSON lines) and access.log on lb nodes. In the foreground, Ctrl-C stops every node.',
  async run(parsed) {
    // Every node runs on this machine: the lbs' certificate files must be here too.
    const spec = loadSpec(parsed, { files: true });
    const timeoutText = parsed.values['timeout'];
    const timeoutMs = typeof timeoutText === 'string' ? parseDuration(timeoutText) : 60_000;
    if (timeoutMs === undefined) throw new BulwarkError('BWK_USAGE', `bulwark up: --timeout expects a duration like 30s, got ${JSON.stringify(timeoutText)}`);
    if (spec.firewall.host === 'enforce') {
      throw new BulwarkError('BWK_USAGE', 'bulwark up: firewall.host is enforce, but up runs every node on this one machine, where their rulesets '
        + 'would replace each other; use plan-only here (the default), and enforce with one `bulwark agent` per host');
    }
    const layout = layoutOf(spec);
    fs.mkdirSync(layout.root, { recursive: true });
    // One CA for the cluster and every node's agent certificate, made before the nodes start (they
    // would issue their own from the same CA anyway; this is quicker and leaves no race).
    await ClusterCa.ensure(caDirOf(spec), spec.cluster);
    await Promise.all([adminCredentials(spec), ...spec.nodes.map((n) => nodeCredentials(spec, n))]);
    if (await alreadyRunning(spec)) {
      throw new BulwarkError('BWK_ALREADY_RUNNING', `a local cluster from ${layout.root} is already running (\`bulwark status\` to see it, \`bulwark down\` to stop it)`);
    }
    const leftovers = spec.nodes.filter((n) => {
      const rec = readPidFile(layout.nodePid(n.name));
      return rec !== undefined && isAlive(rec.pid, rec.startTicks);
    });
    if (leftovers.length > 0) {
      throw new BulwarkError('BWK_ALREADY_RUNNING', `node(s) ${leftovers.map((n) => n.name).join(', ')} from an earlier run are still running (see ${layout.root}/nodes/*/node.pid); \`bulwark down\` stops them`);
    }
    const daemon = process.env['BULWARK_UP_DAEMON'] === '1';
    if (parsed.values['detach'] && !daemon) return detach(spec, timeoutMs);

    const log = daemon ? createLogger({ node: 'up' }) : humanLogger('up');
    const cluster = new LocalCluster(spec, log);
    await cluster.serveControl();
    writePidFile(layout.upPid, process.pid);
    const follower = daemon ? undefined : new LogFollower(
      new Map(spec.nodes.map((n) => [n.name, layout.nodeLog(n.name)])),
      (source, line) => {
        const out = formatLogLine(line, Boolean(process.stdout.isTTY), source);
        if (out) console.log(out);
      },
    );
    log.info(`starting ${spec.nodes.length} nodes of cluster "${spec.cluster}" from ${spec.sourcePath}`);
    cluster.startAll();
    follower?.start();

    const finished = new Promise<number>((resolve) => {
      let stopping = false;
      const shutdown = async (why: string): Promise<void> => {
        if (stopping) return;
        stopping = true;
        log.info(`${why}: stopping every node`);
        await cluster.stopAll();
        follower?.stop();
        await cluster.closeControl();
        fs.rmSync(layout.upPid, { force: true });
        log.info('all nodes stopped');
        resolve(0);
      };
      process.on('SIGINT', () => void shutdown('Ctrl-C'));
      process.on('SIGTERM', () => void shutdown('SIGTERM'));
      cluster.onAllStopped = () => void shutdown('bulwark down');
    });

    const healthy = await waitHealthy(spec, timeoutMs, log, () => true);
    if (healthy) {
      log.info(`cluster "${spec.cluster}" is up: every node healthy`);
      if (!daemon) await printSummary(spec);
    } else {
      log.warn(`not every node became healthy within ${timeoutMs}ms; see \`bulwark status\` and the node logs in ${layout.root}/nodes`);
    }
    return finished;
  },
};

async function detach(spec: ClusterSpec, timeoutMs: number): Promise<number> {
  const layout = layoutOf(spec);
  const out = fs.openSync(layout.upLog, 'a');
  const child = spawn(process.execPath, [CLI_MAIN, 'up', '-c', spec.sourcePath, '--timeout', `${timeoutMs}ms`], {
    detached: true, stdio: ['ignore', out, out], env: { ...process.env, BULWARK_UP_DAEMON: '1' },
  });
  fs.closeSync(out);
  child.unref();
  const pid = child.pid!;
  const log = humanLogger('up');
  log.info(`cluster "${spec.cluster}" starting in the background (pid ${pid}); log: ${layout.upLog}`);
  // Wait for the daemon's control socket, then for health.
  const deadline = Date.now() + timeoutMs;
  while (!(await alreadyRunning(spec))) {
    if (!isAlive(pid) || Date.now() > deadline) {
      throw new BulwarkError('BWK_NOT_RUNNING', `the background \`bulwark up\` did not start; see ${layout.upLog}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const healthy = await waitHealthy(spec, Math.max(0, deadline - Date.now()), log, () => isAlive(pid));
  await printSummary(spec);
  if (!healthy) {
    console.error(`\nnot every node became healthy within ${timeoutMs}ms; the cluster keeps running (\`bulwark down\` stops it)`);
    return 1;
  }
  return 0;
}

