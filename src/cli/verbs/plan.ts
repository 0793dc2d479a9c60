/** `bulwark plan`: what each node will do, derived from the cluster file (nothing is started). */
import type { ClusterSpec, NodeSpec } from '../../config/types.js';
import { findNode, nodesWithRole } from '../../config/index.js';
import { CONFIG_OPTION, JSON_OPTION, type Verb } from '../verb.js';
import { loadSpec, printJson } from '../context.js';

function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

export function nodePlan(spec: ClusterSpec, node: NodeSpec): Record<string, unknown> {
  const listeners: { what: string; address: string }[] = [{ what: 'agent API', address: hostPort(node.address, node.agentPort) }];
  const plan: Record<string, unknown> = { node: node.name, role: node.role, address: node.address, listeners };
  if (node.role === 'lb') {
    const elected = nodesWithRole(spec, 'lb').length > 1;
    const sb = spec.edge.standby;
    for (const f of spec.edge.frontends) {
      const ports: [string, number][] = [[f.httpsPort !== undefined && f.redirectToHttps ? 'http → https' : f.mode, f.port]];
      if (f.httpsPort !== undefined) ports.push(['https', f.httpsPort]);
      for (const [what, port] of ports) {
        listeners.push({ what: `frontend ${f.name} (${what})`, address: hostPort(node.address, port) });
        if (spec.edge.vip !== node.address) {
          listeners.push({ what: `frontend ${f.name} (${what}) on the VIP${elected ? ' while active' : ''}`, address: hostPort(spec.edge.vip, port) });
        }
      }
    }
    plan['vip'] = {
      address: spec.edge.vip, priority: node.priority, ...(sb.interface && { interface: sb.interface }),
      election: elected
        ? `lease of ${sb.leaseMs}ms from a majority of ${sb.voters.length} voters (${sb.voters.join(', ')}), preempt ${sb.preempt ? 'on' : 'off'}`
        : 'the only lb: holds the VIP',
    };
    plan['backends'] = spec.edge.backends.map((b) => ({
      name: b.name, mode: b.mode, balance: b.balance.policy,
      healthCheck: b.healthCheck.type === 'http'
        ? `http GET ${b.healthCheck.path} every ${b.healthCheck.intervalMs}ms, timeout ${b.healthCheck.timeoutMs}ms, rise ${b.healthCheck.rise}, fall ${b.healthCheck.fall}`
        : `tcp connect every ${b.healthCheck.intervalMs}ms, rise ${b.healthCheck.rise}, fall ${b.healthCheck.fall}`,
      servers: b.servers.map((s) => `${s.name} ${hostPort(s.host, s.port)}${s.backup ? ' (backup)' : ''}${s.weight !== 1 ? ` weight ${s.weight}` : ''}${s.maxconn ? ` maxconn ${s.maxconn}` : ''}`),
    }));
  } else if (node.role === 'web') {
    const app = spec.web.app;
    listeners.push({ what: 'application', address: hostPort(node.address, app.port) });
    plan['app'] = { command: app.command.join(' '), cwd: app.cwd, port: app.port, healthPath: app.healthPath };
  } else {
    plan['idle'] = `no ${node.role} capability yet: the node runs idle and reports healthy`;
  }
  return plan;
}

function printPlan(plan: Record<string, unknown>): void {
  console.log(`${plan['node']} (${plan['role']}, ${plan['address']})`);
  for (const l of plan['listeners'] as { what: string; address: string }[]) console.log(`  listens  ${l.address.padEnd(22)} ${l.what}`);
  if (plan['vip']) {
    const v = plan['vip'] as { address: string; priority: number; election: string };
    console.log(`  vip      ${v.address}, priority ${v.priority}: ${v.election}`);
  }
  for (const b of (plan['backends'] as { name: string; mode: string; balance: string; healthCheck: string; servers: string[] }[] | undefined) ?? []) {
    console.log(`  backend  ${b.name} (${b.mode}, ${b.balance}); check: ${b.healthCheck}`);
    for (const s of b.servers) console.log(`           - ${s}`);
  }
  if (plan['app']) {
    const a = plan['app'] as { command: string; cwd: string; healthPath: string };
    console.log(`  app      ${a.command} (in ${a.cwd}; health ${a.healthPath})`);
  }
  if (plan['idle']) console.log(`  idle     ${plan['idle']}`);
}

export const plan: Verb = {
  name: 'plan',
  summary: 'Print the per-node plan derived from the cluster file: listeners, VIP, backends, application.',
  options: { config: CONFIG_OPTION, node: { type: 'string', description: 'only this node', valueName: 'NAME' }, json: JSON_OPTION },
  async run(parsed) {
    const spec = loadSpec(parsed);
    const only = parsed.values['node'];
    const nodes = typeof only === 'string' ? [findNode(spec, only)] : spec.nodes;
    const plans = nodes.map((n) => nodePlan(spec, n));
    if (parsed.values['json']) printJson(typeof only === 'string' ? plans[0] : { cluster: spec.cluster, nodes: plans });
    else plans.forEach((p, i) => {
      if (i > 0) console.log('');
      printPlan(p);
    });
    return 0;
  },
};
