import { CONFIG_OPTION, JSON_OPTION, type Verb } from '../verb.js';
import { loadSpec, printJson, table } from '../context.js';
import { collectStatus, expiry, type ClusterStatusView } from '../cluster-status.js';

export function renderStatus(view: ClusterStatusView): string {
  const out: string[] = [`cluster ${view.cluster}`, ''];
  out.push(table([
    ['NODE', 'ROLE', 'ADDRESS', 'HEALTH', 'DETAIL'],
    ...view.nodes.map((n) => [n.name, n.role, `${n.address}:${n.agentPort}`, !n.reachable ? 'DOWN' : n.healthy ? 'healthy' : 'UNHEALTHY', n.detail]),
  ]));
  if (view.edge) {
    out.push('', `edge ${view.edge.url}${view.edge.httpsUrl ? `  ${view.edge.httpsUrl}` : ''}  (VIP held by ${view.edge.active ?? 'nobody'})`);
    out.push(table([
      ['LB', 'STANDBY', 'SINCE', 'WHY'],
      ...view.edge.standby.map((s) => [s.node, s.state.toUpperCase(), s.since ? s.since.slice(11, 19) : '-', s.reason]),
    ]).split('\n').map((l) => '  ' + l).join('\n'));
    const certs = view.edge.certificates;
    if (certs.length > 0) {
      out.push('', 'certificates');
      out.push(table([['LB', 'NAMES', 'EXPIRES', 'SOURCE', 'ISSUER'], ...certs.map((c) => [c.node, c.names.join(', '), expiry(c.notAfter), c.source, c.issuer ?? '-'])])
        .split('\n').map((l) => '  ' + l).join('\n'));
      // A changed certificate file that did not load: the old certificates are still served.
      for (const [node, why] of new Map(certs.filter((c) => c.reloadError).map((c) => [c.node, c.reloadError!]))) out.push(`  ${node}: RELOAD FAILED, still serving the previous certificates: ${why}`);
    }
    for (const b of view.edge.backends) {
      out.push('', `backend ${b.name} (${b.policy})${b.queue ? `, ${b.queue} queued` : ''}`);
      out.push(table([
        ['SERVER', 'ADDRESS', 'STATE', 'ACTIVE', 'CHECK'],
        ...b.servers.map((s) => [s.name + (s.backup ? ' (backup)' : ''), s.address, s.draining ? 'DRAINING' : s.up ? 'up' : 'DOWN', String(s.active), s.check]),
      ]).split('\n').map((l) => '  ' + l).join('\n'));
    }
  }
  if (view.database) {
    const d = view.database;
    out.push('', `database: primary ${d.primary ?? 'NONE'}, timeline ${d.timeline ?? '?'}, ${d.mode} replication${d.mode === 'sync' ? ` (sync standbys: ${d.syncStandbys.join(', ') || 'none: nobody promotable without loss'})` : ''}`);
    out.push(table([
      ['MEMBER', 'ROLE', 'TIMELINE', 'LAG', 'SYNC', 'STATE'],
      ...d.members.map((m) => [m.name, m.role, String(m.timeline ?? '-'), m.lagBytes === null ? '-' : `${m.lagBytes} B`, m.sync ? 'yes' : 'no', m.state]),
    ]).split('\n').map((l) => '  ' + l).join('\n'));
  }
  if (view.monitor) {
    out.push('', `monitor ${view.monitor.url}${view.monitor.reachable ? '' : `  (UNREACHABLE: ${view.monitor.error ?? 'no answer'}; alerts unknown)`}`);
    if (view.monitor.reachable) {
      out.push(view.alerts.length === 0 ? '  no alerts firing' : table([
        ['ALERT', 'SEVERITY', 'NODE', 'SINCE', 'SUMMARY'],
        ...view.alerts.map((a) => [a.name, a.severity.toUpperCase(), a.node ?? '-', a.since.slice(11, 19), a.summary ?? '']),
      ]).split('\n').map((l) => '  ' + l).join('\n'));
    }
  }
  return out.join('\n');
}

export const status: Verb = {
  name: 'status',
  summary: 'Show nodes, roles, health, which LB holds the VIP, the state of every backend server and open alerts.',
  options: { config: CONFIG_OPTION, json: JSON_OPTION },
  async run(parsed) {
    const spec = loadSpec(parsed);
    const view = await collectStatus(spec);
    if (parsed.values['json']) printJson(view);
    else console.log(renderStatus(view));
    if (!view.nodes.some((n) => n.reachable)) {
      console.error(`no node answered: is the cluster running? (\`bulwark up -c ${spec.sourcePath}\`)`);
      return 1;
    }
    return 0;
  },
};
