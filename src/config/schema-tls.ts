/** Schema + defaults for `edge.tls`: where HTTPS certificates come from, and HSTS. */
import path from 'node:path';
import { DEFAULTS } from './defaults.js';
import { KEYS } from './keys.js';
import { isIP } from 'node:net';
import type { MapView } from './reader.js';
import type { AcmeSpec, EdgeTlsSpec } from './types.js';
import { HOSTNAME } from './value-rules.js';

export function readEdgeTls(edge: MapView, baseDir: string): EdgeTlsSpec | undefined {
  const m = edge.map('tls', KEYS.tls);
  if (!m) return undefined;
  const r = m.reader;
  const d = DEFAULTS.tls;
  const source = m.oneOf('source', ['local', 'files', 'acme'] as const) ?? d.source;
  const names: string[] = [];
  for (const item of m.list('names') ?? []) {
    const n = r.string(item.node, item.path);
    if (n === undefined) continue;
    // The cluster CA can sign a wildcard; an ACME HTTP-01 challenge cannot prove one.
    const problem = nameProblem(n, true);
    if (problem) r.issues.add(item.path, problem);
    else names.push(n.toLowerCase());
  }
  const certificates: { cert: string; key: string }[] = [];
  for (const item of m.list('certificates') ?? []) {
    const c = r.map(item.node, item.path, KEYS.certificate);
    const cert = c?.str('cert', { required: true });
    const key = c?.str('key', { required: true });
    if (cert !== undefined && key !== undefined) certificates.push({ cert: path.resolve(baseDir, cert), key: path.resolve(baseDir, key) });
  }
  if (source === 'files' && !m.has('certificates')) r.issues.add(m.at('certificates'), 'required key is missing (source: files serves the certificate/key pairs listed here)', m.node.pos);
  if (source === 'local' && m.has('certificates')) r.issues.add(m.at('certificates'), 'is for source: files; source: local issues its certificate from the cluster CA');
  if (source === 'files' && m.has('names')) r.issues.add(m.at('names'), 'is for source: local; with files, the names are the ones in the certificates');
  if (source === 'acme' && m.has('certificates')) r.issues.add(m.at('certificates'), 'is for source: files; source: acme orders its certificate from the directory in acme');
  if (source === 'acme' && m.has('names')) r.issues.add(m.at('names'), 'is for source: local; with acme, list the names under acme.names');
  if (source !== 'acme' && m.has('acme')) r.issues.add(m.at('acme'), `is for source: acme (source is ${source})`);
  if (source === 'acme' && !m.has('acme')) r.issues.add(m.at('acme'), 'required key is missing (source: acme needs at least acme.email and acme.names)', m.node.pos);
  const acme = source === 'acme' ? readAcme(m, baseDir) : undefined;
  return { source, names, certificates, ...(acme && { acme }), hstsMaxAgeMs: readHsts(m) ?? d.hstsMaxAgeMs };
}

/** `acme: { directory, email, names, ca_file, renew_at, account_key }`. */
function readAcme(tls: MapView, baseDir: string): AcmeSpec | undefined {
  const m = tls.map('acme', KEYS.acme);
  if (!m) return undefined;
  const r = m.reader;
  const d = DEFAULTS.acme;
  const directory = m.str('directory') ?? d.directory;
  if (m.has('directory') && !/^https:\/\/[^/\s]+(\/\S*)?$/.test(directory)) {
    r.issues.add(m.at('directory'), `expected an https:// URL of an ACME directory (like ${d.directory}), got ${JSON.stringify(directory)}`);
  }
  const email = m.str('email', { required: true });
  if (email !== undefined && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(email)) r.issues.add(m.at('email'), `expected an email address like ops@example.com, got ${JSON.stringify(email)}`);
  const names: string[] = [];
  const items = m.list('names', { required: true }) ?? [];
  if (m.has('names') && items.length === 0 && m.get('names')!.kind === 'seq') r.issues.add(m.at('names'), 'must list at least one name');
  for (const item of items) {
    const n = r.string(item.node, item.path);
    if (n === undefined) continue;
    const problem = n.startsWith('*.') ? `${JSON.stringify(n)} is a wildcard: HTTP-01 (the challenge the edge answers) cannot prove one; list each name` : nameProblem(n, false);
    if (problem) r.issues.add(item.path, problem);
    else names.push(n.toLowerCase());
  }
  const renewAt = m.number('renew_at') ?? d.renewAt;
  if (m.has('renew_at') && (renewAt <= 0 || renewAt >= 1)) r.issues.add(m.at('renew_at'), `must be a fraction of the certificate's lifetime between 0 and 1 (like 0.66), got ${renewAt}`);
  const caFile = m.str('ca_file');
  const accountKey = m.str('account_key');
  if (email === undefined) return undefined;
  return {
    directory, email, names, renewAt,
    ...(caFile !== undefined && { caFile: path.resolve(baseDir, caFile) }),
    ...(accountKey !== undefined && { accountKey: path.resolve(baseDir, accountKey) }),
  };
}

/** Why `n` cannot be a certificate name (a DNS name or an IP address), or undefined. */
function nameProblem(n: string, wildcard: boolean): string | undefined {
  const bare = wildcard && n.startsWith('*.') ? n.slice(2) : n;
  if (isIP(bare) !== 0 || HOSTNAME.test(bare)) return undefined;
  return `expected a DNS name like www.example.com${wildcard ? ' (or *.example.com)' : ''} or an IP address, got ${JSON.stringify(n)}`;
}

/** `hsts: 365d` (a max-age) or `hsts: false` (no header). */
function readHsts(m: MapView): number | undefined {
  if (!m.has('hsts')) return undefined;
  const node = m.get('hsts')!;
  if (node.kind === 'scalar' && node.value === false) return 0;
  return m.duration('hsts');
}
