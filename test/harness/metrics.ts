/**
 * A node's Prometheus metrics as a test reads them: GET /metrics on its agent API over mutual TLS
 * with the admin certificate (the way `bulwark status` calls agents), parsed.
 */
import assert from 'node:assert/strict';
import type { AgentTarget } from '../../src/control-plane/agent-api/index.js';
import { parseTextFormat, type Exposition } from '../../src/observability/scrape/text-format.js';
import { agentCall } from './agent-tls.js';

export async function scrapeNode(stateDir: string, target: AgentTarget): Promise<Exposition> {
  const r = await agentCall<string>(stateDir, target, 'GET', '/metrics', undefined, 5000);
  assert.equal(r.status, 200, `GET /metrics on ${target.address}: HTTP ${r.status}`);
  assert.equal(typeof r.body, 'string', `GET /metrics on ${target.address} answered JSON, not the text format`);
  return parseTextFormat(r.body);
}

/** The families of `want` the exposition does not declare (`# TYPE`), each with the type it should have. */
export function missingFamilies(e: Exposition, want: Readonly<Record<string, string>>): string[] {
  return Object.entries(want).filter(([name, type]) => e.types.get(name) !== type).map(([name, type]) => `${name} (${type}${e.types.has(name) ? `, served as ${e.types.get(name)}` : ''})`);
}

/** Samples named `name` whose labels include `labels`. */
export function samplesOf(e: Exposition, name: string, labels: Readonly<Record<string, string>> = {}): { labels: Readonly<Record<string, string>>; value: number }[] {
  return e.samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
}
