/** The rule language: parse errors by column, and evaluation with PromQL's semantics on a small store. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseExpr } from '../../src/observability/promql/parse.js';
import { bucketQuantile, evaluate, extrapolatedRate } from '../../src/observability/promql/evaluate.js';
import { SeriesStore } from '../../src/observability/store/series-store.js';

const S = 1000;

/** A store with two web nodes' counters scraped every second for a minute. */
function store(): SeriesStore {
  const s = new SeriesStore({ intervalMs: S, ranges: new Map([['req_total', 60 * S], ['lat_bucket', 60 * S], ['tl', 300 * S]]) });
  for (let i = 0; i <= 60; i++) {
    const t = i * S;
    s.ingest('web-1', t, [
      { name: 'req_total', labels: { node: 'web-1', code: '2xx' }, value: 10 * i },
      { name: 'req_total', labels: { node: 'web-1', code: '5xx' }, value: i },
      { name: 'up_gauge', labels: { node: 'web-1' }, value: 1 },
      { name: 'lat_bucket', labels: { le: '0.1' }, value: 50 * i },
      { name: 'lat_bucket', labels: { le: '1' }, value: 90 * i },
      { name: 'lat_bucket', labels: { le: '+Inf' }, value: 100 * i },
      { name: 'tl', labels: { node: 'web-1' }, value: i < 30 ? 1 : 2 },
    ]);
    s.ingest('web-2', t, i === 60 ? null : [
      { name: 'req_total', labels: { node: 'web-2', code: '2xx' }, value: 5 * i },
      { name: 'up_gauge', labels: { node: 'web-2' }, value: 1 },
    ]);
  }
  return s;
}

const at = 60 * S;
const vec = (expr: string) => {
  const r = evaluate(parseExpr(expr), store(), at);
  assert.ok(Array.isArray(r), `${expr} is a vector`);
  return r.map((i) => ({ labels: i.labels, value: Math.round(i.value * 1000) / 1000 })).sort((a, b) => (JSON.stringify(a.labels) < JSON.stringify(b.labels) ? -1 : 1));
};

describe('rule language: parsing', () => {
  it('accepts the built-in shapes', () => {
    for (const e of [
      'up{job="bulwark"} == 0',
      'max by (cluster, backend) (bulwark_backend_server_up{role="lb"}) == 0',
      'sum(x) == 0 or absent(x)',
      'sum without (node) (rate(x_total{code=~"5.."}[2m])) / ignoring(code) sum(rate(x_total[2m])) > 0.05',
      'histogram_quantile(0.99, sum(rate(h_bucket[5m])) by (le)) > 1',
      'a < 14 * 86400 or b < bool 2',
      '-x ^ 2 ^ 3',
    ]) assert.doesNotThrow(() => parseExpr(e), e);
  });

  it('rejects what it does not implement, naming the column', () => {
    const cases: [string, RegExp][] = [
      ['rate(x[5m] offset 1m)', /column 12: offset is not supported/],
      ['x > on(a) group_left y', /column 11: group_left is not supported/],
      ['topk(3, x)', /column 1: topk is not supported/],
      ['rate(x)', /column 1: rate\(\) needs a range vector/],
      ['x[5m]', /column 1: a range vector cannot|range vector/],
      ['sum(x', /column 6: expected "\)", got the end/],
      ['x{a="1"', /column 8: expected , or }, got the end/],
      ['x{a=~"("}', /column 6: bad regular expression/],
      ['1 > 2', /needs "bool"/],
      ['foo(x)', /column 1: unknown or unsupported function foo\(\)/],
      ['histogram_quantile(x, y)', /needs a number here/],
      ['', /the expression is empty/],
    ];
    for (const [e, re] of cases) assert.throws(() => parseExpr(e), re, e);
  });
});

describe('rule language: evaluation', () => {
  it('rates counters like Prometheus (extrapolated to the window)', () => {
    // web-2 went stale at the last scrape: like Prometheus, its earlier samples still make a rate.
    assert.deepEqual(vec('rate(req_total[30s])'), [
      { labels: { code: '2xx', node: 'web-1' }, value: 10 },
      { labels: { code: '5xx', node: 'web-1' }, value: 1 },
      { labels: { code: '2xx', node: 'web-2' }, value: 5 },
    ]);
    assert.deepEqual(vec('increase(req_total{code="5xx"}[10s])'), [{ labels: { code: '5xx', node: 'web-1' }, value: 10 }]);
  });

  it('handles counter resets and extrapolation edges exactly as extrapolatedRate does', () => {
    // 5 samples 1 s apart, reset after the third: 10,20,30,5,15 → increase 30-10+5+... = (15-10)+30 = 35 over 4 s.
    const pts = [10, 20, 30, 5, 15].map((v, i) => ({ t: 1000 + i * 1000, v }));
    const r = extrapolatedRate(pts, 0, 6000, true, false)!;
    // sampled 4 s; start gap 1 s (< 1.1 × avg step) extended, but not beyond where the counter was 0
    // (10/35 × 4 s ≈ 1.14 s, so the full 1 s); end gap 1 s extended: 35 × 6/4.
    assert.equal(Math.round(r * 1000) / 1000, 52.5);
    assert.equal(extrapolatedRate([{ t: 0, v: 1 }], 0, 1000, true, true), undefined);
  });

  it('drops a target whose scrape failed (staleness), like Prometheus', () => {
    assert.deepEqual(vec('up_gauge'), [{ labels: { node: 'web-1' }, value: 1 }]);
    assert.deepEqual(vec('count(up_gauge)'), [{ labels: {}, value: 1 }]);
  });

  it('aggregates, matches one-to-one on labels, filters and does set operations', () => {
    assert.deepEqual(vec('sum by (node) (rate(req_total[30s]))'), [{ labels: { node: 'web-1' }, value: 11 }, { labels: { node: 'web-2' }, value: 5 }]);
    assert.deepEqual(vec('sum(rate(req_total{code="5xx"}[30s])) / sum(rate(req_total[30s]))'), [{ labels: {}, value: 0.063 }]);
    assert.deepEqual(vec('rate(req_total[30s]) > 5'), [{ labels: { code: '2xx', node: 'web-1' }, value: 10 }]);
    assert.deepEqual(vec('rate(req_total[30s]) > bool 5'), [
      { labels: { code: '2xx', node: 'web-1' }, value: 1 }, { labels: { code: '5xx', node: 'web-1' }, value: 0 }, { labels: { code: '2xx', node: 'web-2' }, value: 0 },
    ]);
    assert.deepEqual(vec('rate(req_total{node="web-1"}[30s]) unless on(code) rate(req_total{code="5xx"}[30s])'), [{ labels: { code: '2xx', node: 'web-1' }, value: 10 }]);
    assert.deepEqual(vec('absent(nothing{node="x"})'), [{ labels: { node: 'x' }, value: 1 }]);
    assert.deepEqual(vec('absent(up_gauge)'), []);
    assert.deepEqual(vec('max(changes(tl[5m])) > 0'), [{ labels: {}, value: 1 }]);
    assert.throws(() => evaluate(parseExpr('req_total / on(node) up_gauge'), store(), at), /many-to-one|share the labels/);
  });

  it('computes quantiles from histogram buckets by interpolation', () => {
    assert.deepEqual(vec('histogram_quantile(0.5, rate(lat_bucket[30s]))'), [{ labels: {}, value: 0.1 }]);
    assert.deepEqual(vec('histogram_quantile(0.7, rate(lat_bucket[30s]))'), [{ labels: {}, value: 0.55 }]);
    // Beyond the last finite bucket: its upper bound, as Prometheus answers.
    assert.equal(bucketQuantile(0.99, [{ le: 0.1, count: 50 }, { le: 1, count: 90 }, { le: Infinity, count: 100 }]), 1);
    assert.ok(Number.isNaN(bucketQuantile(0.5, [{ le: 1, count: 0 }, { le: Infinity, count: 0 }])));
  });
});
