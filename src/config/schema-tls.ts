/** Schema + defaults for `edge.tls`: where HTTPS certificates come from, and HSTS. */
import path from 'node:path';
import { DEFAULTS } from './defaults.js';
import { KEYS } from './keys.js';
import type { MapView } from './reader.js';
import type { EdgeTlsSpec } from './types.js';

export function readEdgeTls(edge: MapView, baseDir: string): EdgeTlsSpec | undefined {
  const m = edge.map('tls', KEYS.tls);
  if (!m) return undefined;
  const r = m.reader;
  const d = DEFAULTS.tls;
  const source = m.oneOf('source', ['local', 'files'] as const) ?? d.source;
  const names: string[] = [];
  for (const item of m.list('names') ?? []) {
    const n = r.string(item.node, item.path);
    if (n !== undefined) names.push(n);
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
  return { source, names, certificates, hstsMaxAgeMs: readHsts(m) ?? d.hstsMaxAgeMs };
}

/** `hsts: 365d` (a max-age) or `hsts: false` (no header). */
function readHsts(m: MapView): number | undefined {
  if (!m.has('hsts')) return undefined;
  const node = m.get('hsts')!;
  if (node.kind === 'scalar' && node.value === false) return 0;
  return m.duration('hsts');
}
