/**
 * `bulwark deploy systemd --node NAME [--install]`: a hardened unit for one node.
 * `bulwark deploy app [--node NAME]`: a rolling restart of the application, one web node at a
 * time, each drained on every lb first and put back only once every lb sees it healthy, so
 * clients never meet a restarting app.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { CONFIG_OPTION, JSON_OPTION, type Parsed, type Verb } from '../verb.js';
import { loadSpec, printJson } from '../context.js';
import { findNode, nodesWithRole } from '../../config/index.js';
import type { ClusterSpec, NodeSpec } from '../../config/types.js';
import { BulwarkError } from '../../core/errors.js';
import { callAgent } from '../agent-client.js';
import { drainOnEveryLb, serverOnLbs } from '../drain-ops.js';
import { pollUntil } from '../poll.js';
import { systemdUnit, unitName } from '../systemd-unit.js';
import { CLI_MAIN } from '../bin-path.js';

export const deploy: Verb = {
  name: 'deploy',
  summary: 'Deploy: a hardened systemd unit for a node (deploy systemd), or a rolling restart of the app (deploy app).',
  args: 'systemd|app',
  minArgs: 1,
  maxArgs: 1,
  options: {
    config: CONFIG_OPTION,
    json: JSON_OPTION,
    node: { type: 'string', description: 'systemd: the node (required); app: only this web node', valueName: 'NAME' },
    install: { type: 'boolean', description: 'systemd: write the unit to --unit-dir and reload systemd' },
    'unit-dir': { type: 'string', description: 'systemd: where --install writes the unit (default /etc/systemd/system)', valueName: 'DIR' },
  },
  details: [
    'deploy app restarts the app on each web node in turn: drain it on every lb (in-flight requests finish),',
    'restart the app (a new version on disk is picked up), wait until it answers and every lb counts it up,',
    'put it back in service, then the next one. It stops at the first node that does not come back.',
  ].join('\n'),
  async run(parsed) {
    const spec = loadSpec(parsed);
    const what = parsed.positionals[0];
    if (what === 'systemd') return systemd(spec, parsed.values);
    if (what === 'app') return app(spec, parsed.values);
    throw new BulwarkError('BWK_USAGE', `bulwark deploy: unknown subcommand ${JSON.stringify(what)} (use systemd or app)`);
  },
};

function systemd(spec: ClusterSpec, values: Parsed['values']): number {
  const name = values['node'];
  if (typeof name !== 'string') throw new BulwarkError('BWK_USAGE', 'bulwark deploy systemd: --node NAME is required');
  const node = findNode(spec, name);
  const unit = systemdUnit(spec, node, { node: process.execPath, bin: CLI_MAIN });
  if (!values['install']) {
    process.stdout.write(unit);
    return 0;
  }
  const dir = typeof values['unit-dir'] === 'string' ? values['unit-dir'] : '/etc/systemd/system';
  const file = path.join(dir, unitName(node));
  fs.mkdirSync(dir, { recursive: true });
  // The sandbox mounts the state folder writable: it has to exist before the first start.
  fs.mkdirSync(spec.stateDir, { recursive: true, mode: 0o755 });
  fs.writeFileSync(file, unit, { mode: 0o644 });
  console.log(`wrote ${file}`);
  if (fs.existsSync('/run/systemd/system')) {
    execFileSync('systemctl', ['daemon-reload'], { stdio: 'inherit' });
    console.log(`systemd reloaded; start it with: systemctl enable --now ${unitName(node)}`);
  } else {
    console.log(`systemd is not running here; on the host: systemctl daemon-reload && systemctl enable --now ${unitName(node)}`);
  }
  return 0;
}

interface Step { node: string; drainedMs: number; restartMs: number; backMs: number; pid?: number }

async function app(spec: ClusterSpec, values: Parsed['values']): Promise<number> {
  const only = values['node'];
  let webs = nodesWithRole(spec, 'web');
  if (typeof only === 'string') {
    const n = findNode(spec, only);
    if (n.role !== 'web') throw new BulwarkError('BWK_USAGE', `bulwark deploy app: ${only} is a ${n.role} node, not a web node`);
    webs = [n];
  }
  if (webs.length === 0) throw new BulwarkError('BWK_USAGE', 'bulwark deploy app: the cluster has no web node');
  const json = values['json'] === true;
  const say = (line: string): void => {
    if (!json) console.log(line);
  };
  const steps: Step[] = [];
  for (const web of webs) {
    const step = await rollOne(spec, web, say);
    if (typeof step === 'string') {
      if (json) printJson({ ok: false, steps, failed: { node: web.name, error: step } });
      else console.error(`deploy stopped at ${web.name}: ${step}`);
      return 1;
    }
    steps.push(step);
  }
  if (json) printJson({ ok: true, steps });
  else say(`deployed: ${steps.length} web node(s) restarted one at a time`);
  return 0;
}

async function rollOne(spec: ClusterSpec, web: NodeSpec, say: (line: string) => void): Promise<Step | string> {
  const servers = spec.edge.backends.flatMap((b) => b.servers).filter((s) => s.node === web.name).map((s) => s.name);
  const server = servers[0];
  const t0 = Date.now();
  if (server) {
    const drained = await drainOnEveryLb(spec, server, true);
    const failed = drained.filter((d) => !d.reply.ok);
    if (failed.length === drained.length) return `no lb could drain it (${failed.map((d) => `${d.lb.name}: ${d.reply.error}`).join('; ')})`;
    const idle = await pollUntil(async () => (await serverOnLbs(spec, server)).inflight === 0, 60_000);
    if (!idle) return 'requests still in flight after 60s of draining';
  }
  const drainedMs = Date.now() - t0;
  say(`${web.name}: drained${server ? '' : ' (no edge server points at it)'} in ${drainedMs} ms; restarting the app`);
  const t1 = Date.now();
  const r = await callAgent<{ pid: number; ms: number }>(spec, web, 'POST', '/app/restart', undefined, 70_000);
  if (!r.ok) {
    // Leave it drained: a broken version must not get traffic. The error says why.
    return `the app did not come back: ${r.error ?? `HTTP ${r.status}`} (it stays drained; fix it and run deploy again)`;
  }
  const restartMs = Date.now() - t1;
  const t2 = Date.now();
  if (server) {
    const up = await pollUntil(async () => (await serverOnLbs(spec, server)).upEverywhere, 60_000);
    if (!up) return 'the lbs did not see the app healthy within 60s (it stays drained)';
    await drainOnEveryLb(spec, server, false);
  }
  const backMs = Date.now() - t2;
  say(`${web.name}: app restarted (pid ${r.body?.pid}) in ${restartMs} ms, back in service after ${backMs} ms`);
  return { node: web.name, drainedMs, restartMs, backMs, ...(r.body?.pid !== undefined && { pid: r.body.pid }) };
}
