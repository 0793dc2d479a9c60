/** The Prometheus text-format parser: what prom-client prints, escapes, special values, and errors by line. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { parseTextFormat } from '../../src/observability/scrape/text-format.js';

describe('Prometheus text format', () => {
  it('reads what prom-client exposes, labels and histogram series included', async () => {
    const reg = new Registry();
    reg.setDefaultLabels({ node: 'web-1' });
    new Counter({ name: 'x_total', help: 'h', labelNames: ['code'], registers: [reg] }).inc({ code: '5xx' }, 3);
    const h = new Histogram({ name: 'd_seconds', help: 'h', buckets: [0.1, 1], registers: [reg] });
    h.observe(0.05);
    h.observe(0.5);
    const exp = parseTextFormat(await reg.metrics());
    assert.equal(exp.types.get('x_total'), 'counter');
    assert.equal(exp.types.get('d_seconds'), 'histogram');
    const find = (name: string, labels: Record<string, string>) => exp.samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
    assert.equal(find('x_total', { code: '5xx', node: 'web-1' }), 3);
    assert.equal(find('d_seconds_bucket', { le: '0.1' }), 1);
    assert.equal(find('d_seconds_bucket', { le: '1' }), 2);
    assert.equal(find('d_seconds_bucket', { le: '+Inf' }), 2);
    assert.equal(find('d_seconds_sum', {}), 0.55);
    assert.equal(find('d_seconds_count', {}), 2);
  });

  it('unescapes label values and reads NaN, infinities, exponents and timestamps', () => {
    const exp = parseTextFormat([
      '# HELP m a help line with "quotes"',
      'm{path="C:\\\\dir",msg="say \\"hi\\"\\nbye", empty=""} 1.5e3',
      'm{a="1",} NaN',
      'n +Inf 1700000000000',
      'o -Inf',
      '',
    ].join('\n'));
    assert.deepEqual(exp.samples[0], { name: 'm', labels: { path: 'C:\\dir', msg: 'say "hi"\nbye', empty: '' }, value: 1500 });
    assert.ok(Number.isNaN(exp.samples[1]!.value));
    assert.deepEqual(exp.samples[1]!.labels, { a: '1' });
    assert.equal(exp.samples[2]!.value, Infinity);
    assert.equal(exp.samples[3]!.value, -Infinity);
  });

  it("reads what prom-client writes for NaN (\"Nan\") and any case, as Prometheus does", async () => {
    const registry = new Registry();
    new Gauge({ name: 'g', help: 'h', registers: [registry] }).set(NaN);
    const text = await registry.metrics();
    assert.match(text, /^g Nan$/m);
    assert.ok(Number.isNaN(parseTextFormat(text).samples[0]!.value));
    assert.deepEqual(parseTextFormat('a nan\nb INF\nc -inf\n').samples.map((x) => x.value), [NaN, Infinity, -Infinity]);
  });

  it('names the line of a malformed sample', () => {
    assert.throws(() => parseTextFormat('ok 1\nbad{a="1" 2\n'), /line 2: expected , or } after label a/);
    assert.throws(() => parseTextFormat('ok 1\n\nm{a="1"} one\n'), /line 3: "one" is not a number/);
    assert.throws(() => parseTextFormat('m{a="unterminated} 1\n'), /line 1: unterminated value of label a/);
    assert.throws(() => parseTextFormat('# TYPE m countr\n'), /line 1: unknown metric type "countr"/);
    assert.throws(() => parseTextFormat('9lives 1\n'), /line 1: expected a metric name/);
  });
});
