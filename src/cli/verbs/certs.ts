/** `bulwark certs ca|list`: the cluster CA (created on first use) and the certificates the edge serves. */
import { CONFIG_OPTION, JSON_OPTION, type Verb } from '../verb.js';
import { loadSpec, printJson, table } from '../context.js';
import { BulwarkError } from '../../core/errors.js';
import { ClusterCa, caDirOf } from '../../control-plane/certs/index.js';
import { collectStatus, urlOf } from '../cluster-status.js';

export const certs: Verb = {
  name: 'certs',
  summary: 'The cluster CA and how to trust it (certs ca); the certificates each lb serves (certs list).',
  args: 'ca|list',
  minArgs: 1,
  maxArgs: 1,
  options: { config: CONFIG_OPTION, json: JSON_OPTION },
  details: 'certs ca creates the CA in the state folder if it does not exist yet (bulwark up does the same).',
  async run(parsed) {
    const spec = loadSpec(parsed);
    const what = parsed.positionals[0];
    if (what === 'ca') {
      const ca = await ClusterCa.ensure(caDirOf(spec), spec.cluster);
      if (parsed.values['json']) {
        printJson({ path: ca.certPath, notAfter: ca.notAfter().toISOString() });
        return 0;
      }
      const https = spec.edge.frontends.find((f) => f.httpsPort !== undefined);
      const url = https ? `${urlOf(spec.edge.vip, https.httpsPort!, 'https')}/` : 'https://…/';
      console.log([
        `The cluster CA of "${spec.cluster}": ${ca.certPath} (valid until ${ca.notAfter().toISOString().slice(0, 10)})`,
        '',
        'Trust it:',
        `  curl:     curl --cacert ${ca.certPath} ${url}`,
        `  Debian:   sudo cp ${ca.certPath} /usr/local/share/ca-certificates/bulwark-${spec.cluster}.crt && sudo update-ca-certificates`,
        `  Firefox:  Settings → Privacy & Security → Certificates → View Certificates → Authorities → Import ${ca.certPath}`,
        `  Chromium: Settings → Privacy and security → Security → Manage certificates → Authorities → Import`,
        `  Node:     NODE_EXTRA_CA_CERTS=${ca.certPath} node app.js`,
        '',
        'Its key (ca.key beside it) signs every certificate of the cluster: keep it readable by its owner only.',
      ].join('\n'));
      return 0;
    }
    if (what === 'list') {
      const view = await collectStatus(spec);
      const rows = view.edge?.certificates ?? [];
      if (parsed.values['json']) {
        printJson(rows);
        return 0;
      }
      if (rows.length === 0) {
        console.log(spec.edge.tls ? 'no lb answered with its certificates (is the cluster up?)' : 'the edge serves no HTTPS (no edge.tls in the cluster file)');
        return spec.edge.tls ? 1 : 0;
      }
      console.log(table([['LB', 'NAMES', 'EXPIRES', 'SOURCE'], ...rows.map((c) => [c.node, c.names.join(', '), c.notAfter.slice(0, 10), c.source])]));
      return 0;
    }
    throw new BulwarkError('BWK_USAGE', `bulwark certs: unknown subcommand ${JSON.stringify(what)} (use ca or list)`);
  },
};
