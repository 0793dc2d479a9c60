/**
 * Firewall refusals under the firewall's own name: bulwark_edge_refused_total keeps every reason
 * the edge refuses for (unchanged), bulwark_firewall_refused_total only the firewall's verdicts,
 * and a new ban is counted as a ban, not as one more refusal.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { EdgeMetrics, FIREWALL_REFUSALS } from '../../src/observability/edge-metrics.js';
import { parseTextFormat } from '../../src/observability/scrape/text-format.js';

describe('firewall refusal metrics', () => {
  it('count the firewall\'s reasons apart from the edge\'s other refusals', async () => {
    const reg = new Registry();
    const m = EdgeMetrics.attach(reg, { servers: () => [], queues: () => [], connections: () => [] });
    for (const reason of ['rate-limited', 'rate-limited', 'denied', 'banned', 'too-many-connections', 'untrusted-proxy', 'not-allowed', 'ban', 'bad-request', 'no-server', 'queue-full']) {
      m.refusal('www', reason);
    }
    const text = await reg.metrics();
    const families = parseTextFormat(text).samples;
    const of = (name: string): Record<string, number> =>
      Object.fromEntries(families.filter((s) => s.name === name).map((s) => [s.labels['reason'] ?? '', s.value]));
    assert.deepEqual(of('bulwark_firewall_refused_total'), { 'rate-limited': 2, denied: 1, banned: 1, 'too-many-connections': 1, 'untrusted-proxy': 1, 'not-allowed': 1 });
    assert.equal(families.find((s) => s.name === 'bulwark_firewall_bans_total')?.value, 1);
    assert.deepEqual(of('bulwark_edge_refused_total'), {
      'rate-limited': 2, denied: 1, banned: 1, 'too-many-connections': 1, 'untrusted-proxy': 1, 'not-allowed': 1, ban: 1, 'bad-request': 1, 'no-server': 1, 'queue-full': 1,
    }, 'the existing metric is unchanged');
    assert.match(text, /# TYPE bulwark_firewall_refused_total counter/);
    assert.equal(FIREWALL_REFUSALS.has('ban'), false);
  });
});
