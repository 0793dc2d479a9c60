/**
 * `bulwark monitor export [--out DIR]`: the cluster for an existing Prometheus and Grafana — a
 * scrape config, the alert rules in Prometheus format and a Grafana dashboard.
 */
import fs from 'node:fs';
import path from 'node:path';
import { CONFIG_OPTION, type Verb } from '../verb.js';
import { loadSpec } from '../context.js';
import { BulwarkError } from '../../core/errors.js';
import { adminCertPaths, adminCredentials, caCertPath, caDirOf, nodeCertPaths, nodeCredentials } from '../../control-plane/certs/index.js';
import { RULES_FILE, grafanaDashboard, ruleFile, scrapeConfig } from '../../observability/export/prometheus.js';

export const monitor: Verb = {
  name: 'monitor',
  summary: 'Export the cluster for Prometheus and Grafana (monitor export): scrape config, alert rules, dashboard.',
  args: 'export',
  minArgs: 1,
  maxArgs: 1,
  options: {
    config: CONFIG_OPTION,
    out: { type: 'string', description: 'folder to write into (default: monitoring/ in the current folder)', valueName: 'DIR' },
  },
  details: [
    `Writes DIR/prometheus.yml (scrape config: https, the cluster CA, a client certificate), DIR/${RULES_FILE}`,
    '(the built-in and monitor.rules alerts as Prometheus rules) and DIR/grafana-dashboard.json.',
    'The client certificate is the monitor node\'s (it may read /metrics and nothing that changes anything),',
    'or the admin certificate when the cluster has no monitor node. Copy them with the files to the Prometheus host.',
  ].join('\n'),
  async run(parsed) {
    if (parsed.positionals[0] !== 'export') throw new BulwarkError('BWK_USAGE', `bulwark monitor: unknown subcommand ${JSON.stringify(parsed.positionals[0])} (expected export)`);
    const spec = loadSpec(parsed);
    const out = path.resolve(typeof parsed.values['out'] === 'string' ? parsed.values['out'] : 'monitoring');
    const mon = spec.nodes.find((n) => n.role === 'monitor');
    const creds = mon ? await nodeCredentials(spec, mon) : await adminCredentials(spec);
    const keyFile = (mon ? nodeCertPaths(spec, mon.name) : adminCertPaths(spec)).key;
    fs.mkdirSync(out, { recursive: true });
    const files = {
      'prometheus.yml': scrapeConfig(spec, { caFile: caCertPath(caDirOf(spec)), certFile: creds.certPath, keyFile }),
      [RULES_FILE]: ruleFile(spec),
      'grafana-dashboard.json': grafanaDashboard(spec),
    };
    for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(out, name), text);
    console.log([
      `wrote ${Object.keys(files).map((f) => path.join(out, f)).join(', ')}`,
      `client certificate: ${creds.certPath} (${mon ? `monitor node ${mon.name}` : 'admin'}); check the rules with: promtool check rules ${path.join(out, RULES_FILE)}`,
    ].join('\n'));
    return 0;
  },
};
