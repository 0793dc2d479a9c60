/**
 * `bulwark certs ca|list|issue`: the cluster CA (created on first use), the certificates the edge
 * serves, and the agent-API certificates of nodes and the admin (for hosts without the CA key).
 */
import { CONFIG_OPTION, JSON_OPTION, type Parsed, type Verb } from '../verb.js';
import { loadSpec, printJson, table } from '../context.js';
import { BulwarkError } from '../../core/errors.js';
import fs from 'node:fs';
import path from 'node:path';
import type { ClusterSpec } from '../../config/types.js';
import { findNode } from '../../config/index.js';
import {
  ClusterCa, adminCertPaths, adminCredentials, caCertPath, caDirOf, caKeyPath, describeCertificate, edgeCertNames, ensureEdgeCertificate, nodeCertPaths, nodeCredentials,
} from '../../control-plane/certs/index.js';
import { collectStatus, expiry, urlOf } from '../cluster-status.js';

export const certs: Verb = {
  name: 'certs',
  summary: 'The cluster CA and how to trust it (certs ca); the certificates each lb serves (certs list); agent-API certificates for other hosts (certs issue).',
  args: 'ca|list|issue',
  minArgs: 1,
  maxArgs: 1,
  options: {
    config: CONFIG_OPTION, json: JSON_OPTION,
    node: { type: 'string', description: 'certs issue: the node to issue a certificate for', valueName: 'NAME' },
    admin: { type: 'boolean', description: 'certs issue: the admin (CLI) certificate' },
    edge: { type: 'boolean', description: 'certs issue: the edge certificate of tls: local, for lbs on hosts without the CA key' },
    out: { type: 'string', description: 'certs issue: also copy CA certificate, certificate and key to DIR/pki/ (for another host\'s state folder)', valueName: 'DIR' },
  },
  details: [
    'certs ca creates the CA in the state folder if it does not exist yet (bulwark up does the same).',
    'certs issue --node NAME | --admin [--out DIR] makes (or renews) an agent-API certificate from the CA on this machine;',
    'copy DIR/pki/ into the state folder of the host that runs the node (or the CLI). Agent APIs accept only',
    'certificates from the cluster CA (mutual TLS); a node certificate can call what its role needs, the admin certificate everything.',
    'certs issue --edge [--out DIR] makes (or renews) the edge certificate of tls: local (pki/edge.crt, for the VIP, every lb\'s',
    'address, localhost and tls.names); copy DIR/pki/ into the state folder of every lb host that lacks the CA key.',
  ].join('\n'),
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
        `  Chromium: Settings → Privacy and security → Security → Manage certificates → Authorities → Import ${ca.certPath}`,
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
      console.log(table([['LB', 'NAMES', 'EXPIRES', 'SOURCE', 'ISSUER'], ...rows.map((c) => [c.node, c.names.join(', '), expiry(c.notAfter), c.source, c.issuer ?? '-'])]));
      return 0;
    }
    if (what === 'issue') return issue(spec, parsed.values);
    throw new BulwarkError('BWK_USAGE', `bulwark certs: unknown subcommand ${JSON.stringify(what)} (use ca, list or issue)`);
  },
};

async function issue(spec: ClusterSpec, values: Parsed['values']): Promise<number> {
  const nodeName = values['node'];
  const admin = values['admin'] === true;
  const edge = values['edge'] === true;
  if ([typeof nodeName === 'string', admin, edge].filter(Boolean).length !== 1) throw new BulwarkError('BWK_USAGE', 'bulwark certs issue: give exactly one of --node NAME, --admin or --edge');
  if (edge && spec.edge?.tls?.source !== 'local') {
    throw new BulwarkError('BWK_USAGE', `bulwark certs issue --edge: the edge certificate is for edge.tls source: local (this cluster file has ${spec.edge?.tls ? `source: ${spec.edge.tls.source}` : 'no edge.tls'})`);
  }
  if (!fs.existsSync(caKeyPath(caDirOf(spec)))) {
    throw new BulwarkError('BWK_CREDENTIALS_MISSING', `bulwark certs issue: the cluster CA key is not on this machine (${caKeyPath(caDirOf(spec))}); run it where the CA lives`);
  }
  const made = edge ? await ensureEdgeCertificate(spec) : undefined;
  const creds = made ? { cert: made.certPem } : admin ? await adminCredentials(spec) : await nodeCredentials(spec, findNode(spec, nodeName as string));
  const files = made ?? (admin ? adminCertPaths(spec) : nodeCertPaths(spec, nodeName as string));
  const out = values['out'];
  const copied: string[] = [];
  if (typeof out === 'string') {
    const rel = (p: string): string => path.join(out, 'pki', path.relative(caDirOf(spec), p));
    for (const [from, mode] of [[caCertPath(caDirOf(spec)), 0o644], [files.cert, 0o644], [files.key, 0o600]] as const) {
      fs.mkdirSync(path.dirname(rel(from)), { recursive: true });
      fs.copyFileSync(from, rel(from));
      fs.chmodSync(rel(from), mode);
      copied.push(rel(from));
    }
  }
  const d = describeCertificate(creds.cert);
  if (values['json']) {
    printJson({ subject: d.subject, names: d.names, notAfter: d.notAfter.toISOString(), cert: files.cert, key: files.key, copied });
    return 0;
  }
  const who = edge ? `edge (every lb: ${edgeCertNames(spec).join(', ')})` : admin ? 'admin' : `node ${String(nodeName)}`;
  console.log(`${who}: ${files.cert} (${d.subject.replace(/\n/g, ', ')}; valid until ${d.notAfter.toISOString().slice(0, 10)})`);
  if (copied.length > 0) console.log(`copied to ${path.join(out as string, 'pki')}/: copy that folder into the state folder of the host (${copied.length} files, the key readable by its owner only)`);
  return 0;
}
