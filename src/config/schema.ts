/**
 * Schema + defaults for the top of the file: cluster, state_dir, agent, log, nodes, web.
 * Reading never stops at a problem: a broken value is recorded in Issues and replaced by its
 * default (or a placeholder), so the rest of the file is still checked.
 */
import { dirname, resolve } from 'node:path';
import { DEFAULTS } from './defaults.js';
import type { Issues } from './issues.js';
import { KEYS } from './keys.js';
import { describe, MapView, Reader, type Item } from './reader.js';
import { readFirewall } from './schema-firewall.js';
import { readEdge } from './schema-edge.js';
import { readDatabase } from './schema-database.js';
import { readMonitor } from './schema-monitor.js';
import { ROLES, type AppSpec, type ClusterSpec, type NodeSpec } from './types.js';
import { ipAddress, nodeName, urlPath } from './value-rules.js';
import type { YNode } from './yaml-positions.js';

const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** The spec as far as it could be read; meaningful only when `issues` stayed empty. */
export function readCluster(root: YNode | undefined, sourcePath: string, issues: Issues): ClusterSpec | undefined {
  const r = new Reader(issues);
  if (root === undefined) {
    issues.add('', 'the file is empty; it needs at least "cluster" and "nodes"');
    return undefined;
  }
  if (root.kind !== 'map') {
    issues.add('', `expected a mapping of keys (cluster, nodes, …) at the top level, got ${describe(root)}`, root.pos);
    return undefined;
  }
  issues.remember('', root.pos);
  const top = new MapView(r, root, '', KEYS.top);
  const dir = dirname(sourcePath);

  const cluster = nodeName(top, 'cluster', { required: true }) ?? '';
  const stateDir = resolve(dir, top.str('state_dir') ?? DEFAULTS.stateDir);
  const agentPort = top.map('agent', KEYS.agent)?.port('port') ?? DEFAULTS.agentPort;
  const level = top.map('log', KEYS.log)?.oneOf('level', LOG_LEVELS) ?? DEFAULTS.logLevel;
  const nodes = readNodes(top, agentPort);
  const app = readApp(top.map('web', KEYS.web)?.map('app', KEYS.app, { required: true }), dir);
  const edge = readEdge(top, nodes, app.port, dir);
  const firewall = readFirewall(top);
  const database = readDatabase(top, nodes);
  const monitor = readMonitor(top);
  return {
    cluster,
    sourcePath,
    stateDir,
    agent: { port: agentPort },
    nodes,
    edge,
    firewall,
    web: { app },
    ...(database && { database }),
    monitor,
    log: { level },
  };
}

function readNodes(top: MapView, agentPort: number): NodeSpec[] {
  const items = top.list('nodes', { required: true });
  if (items?.length === 0) top.reader.issues.add(top.at('nodes'), 'must list at least one node');
  let lbIndex = 0;
  return (items ?? []).map((item) => {
    const node = readNode(top.reader, item, agentPort, lbIndex);
    if (node.role === 'lb') lbIndex++;
    return node;
  });
}

function readNode(r: Reader, item: Item, agentPort: number, lbIndex: number): NodeSpec {
  const m = r.map(item.node, item.path, KEYS.node);
  const name = m && nodeName(m, 'name', { required: true });
  const role = m?.oneOf('role', ROLES, { required: true });
  const address = m && ipAddress(m, 'address', { required: true });
  const priority = m?.int('priority', { min: 0, max: 1000 });
  const nofailover = m?.bool('nofailover');
  if (m && nofailover !== undefined && role !== undefined && role !== 'db') {
    r.issues.add(m.at('nofailover'), `only db nodes take nofailover (this node's role is ${role})`);
  }
  if (m && priority !== undefined && role !== undefined && role !== 'lb') {
    r.issues.add(m.at('priority'), `only lb nodes have a priority (this node's role is ${role})`);
  }
  return {
    name: name ?? '',
    // A node whose role could not be read is treated as the role with the fewest consequences.
    role: role ?? 'monitor',
    address: address ?? '',
    agentPort: m?.port('agent_port') ?? agentPort,
    priority: role === 'lb' ? priority ?? DEFAULTS.lbPriorityBase - lbIndex : 0,
    nofailover: nofailover ?? false,
  };
}

function readApp(m: MapView | undefined, dir: string): AppSpec {
  const d = DEFAULTS.app;
  const backoff = m?.map('restart_backoff', KEYS.restartBackoff);
  const cwd = m?.str('cwd');
  return {
    command: (m && readCommand(m)) ?? [],
    cwd: resolve(dir, cwd ?? '.'),
    port: m?.port('port', { required: true }) ?? 0,
    env: (m && readEnv(m)) ?? { ...d.env },
    healthPath: (m && urlPath(m, 'health_path')) ?? d.healthPath,
    restartBackoffMs: {
      initial: backoff?.duration('initial') ?? d.restartBackoffMs.initial,
      max: backoff?.duration('max') ?? d.restartBackoffMs.max,
    },
    stopTimeoutMs: m?.duration('stop_timeout') ?? d.stopTimeoutMs,
  };
}

/** A list of strings, or one string split on whitespace. */
function readCommand(m: MapView): string[] | undefined {
  const node = m.get('command', { required: true });
  if (node === undefined) return undefined;
  const path = m.at('command');
  const r = m.reader;
  if (node.kind === 'scalar' && typeof node.value === 'string') {
    const argv = node.value.trim().split(/\s+/).filter((a) => a !== '');
    if (argv.length === 0) r.issues.add(path, 'must not be empty');
    return argv.length === 0 ? undefined : argv;
  }
  if (node.kind !== 'seq') {
    r.issues.add(path, 'expected a list of strings like [node, server.js] or one string, got a mapping');
    return undefined;
  }
  const items = r.list(node, path) ?? [];
  if (items.length === 0) r.issues.add(path, 'must not be empty');
  const argv = items.map((i) => r.string(i.node, i.path));
  return argv.length > 0 && argv.every((a): a is string => a !== undefined) ? argv : undefined;
}

/** Environment variables: names as written; numbers and booleans become strings. */
function readEnv(m: MapView): Record<string, string> | undefined {
  const env = m.map('env', null);
  if (!env) return undefined;
  const out: Record<string, string> = {};
  for (const key of env.keys()) {
    const node = env.get(key)!;
    const path = env.at(key);
    if (!ENV_NAME.test(key)) {
      m.reader.issues.add(path, `"${key}" is not a valid environment variable name (letters, digits, _; not starting with a digit)`);
      continue;
    }
    const v = node.kind === 'scalar' ? node.value : undefined;
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') out[key] = String(v);
    else m.reader.issues.add(path, `expected a string, number or boolean, got ${describe(node)}`);
  }
  return out;
}
