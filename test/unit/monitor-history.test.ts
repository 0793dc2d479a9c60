/** The monitor's history on disk: a restart restores samples, charts, events and alerts; retention deletes old segments. */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { ManualClock } from '../../src/core/clock.js';
import { History } from '../../src/observability/store/history.js';
import { parseExpr } from '../../src/observability/promql/parse.js';
import { evaluate } from '../../src/observability/promql/evaluate.js';
import { SeriesStore } from '../../src/observability/store/series-store.js';

const ranges = new Map([['req_total', 30_000]]);

function history(dir: string, clock: ManualClock, ageMs = 3_600_000, sizeBytes = 64 * 1024 * 1024): History {
  return new History({ dir, retention: { ageMs, sizeBytes }, clock, intervalMs: 1000, ranges });
}

function feed(h: History, clock: ManualClock, seconds: number, from = 0): void {
  for (let i = 0; i < seconds; i++) {
    clock.advance(1000);
    const t = clock.now();
    h.beginRound(t);
    h.recordScrape('lb-1', t, [
      { name: 'req_total', labels: { node: 'lb-1' }, value: 10 * (from + i) },
      { name: 'static_gauge', labels: { node: 'lb-1' }, value: 7 },
    ]);
    h.recordScrape('web-1', t, i % 10 === 9 ? null : [{ name: 'req_total', labels: { node: 'web-1' }, value: from + i }]);
    h.recordCharts(t, { requests_per_second: { www: 10 }, error_ratio: { www: NaN } });
    h.flush();
  }
}

describe('monitor history', () => {
  it('survives a restart: rates continue, charts, events and alerts come back', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bulwark-hist-'));
    try {
      const clock = new ManualClock(1_700_000_000_000);
      const a = history(dir, clock);
      a.restore();
      feed(a, clock, 60);
      a.recordEvent({ at: new Date(clock.now()).toISOString(), kind: 'failover', node: 'db-2', message: 'failover: db-2 replaced db-1' });
      a.recordAlerts([{ rule: 'NodeDown', fingerprint: 'f', labels: { alertname: 'NodeDown' }, annotations: {}, severity: 'critical', state: 'firing', activeAt: 1, firedAt: 2, value: 0 }]);
      a.close();

      const b = history(dir, clock);
      b.restore();
      const rate = evaluate(parseExpr('rate(req_total{node="lb-1"}[20s])'), b.series, clock.now());
      assert.ok(Array.isArray(rate) && rate.length === 1 && Math.abs(rate[0]!.value - 10) < 1e-9, `rate after restart: ${JSON.stringify(rate)}`);
      // Only metrics read over a range are written: the static gauge is not on disk.
      assert.deepEqual(b.series.instant('static_gauge', [], clock.now()), []);
      assert.deepEqual(b.events(10).map((e) => e.kind), ['failover']);
      assert.equal(b.restoredAlerts()[0]?.rule, 'NodeDown');
      const chart = b.chart('requests_per_second', clock.now() - 30_000, clock.now());
      assert.equal(chart[0]?.label, 'www');
      assert.equal(chart[0]?.points.length, 31);
      assert.deepEqual(b.chart('error_ratio', clock.now() - 30_000, clock.now()), [], 'NaN points (no traffic) are left out');
      // Charts are averaged down to at most maxPoints.
      assert.ok(b.chart('requests_per_second', clock.now() - 60_000, clock.now(), 10)[0]!.points.length <= 11);
      b.close();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('deletes whole segments past the age limit and the oldest ones past the size limit', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bulwark-hist-'));
    try {
      const clock = new ManualClock(1_700_000_000_000);
      // age 8 min → 1 min segments.
      const h = history(dir, clock, 8 * 60_000);
      h.restore();
      feed(h, clock, 20 * 60);
      const segs = fs.readdirSync(dir).filter((f) => f.startsWith('seg-'));
      assert.ok(segs.length >= 8 && segs.length <= 10, `segments kept for 8 min of 1-min segments: ${segs.length}`);
      const oldest = Math.min(...segs.map((f) => Number(f.slice(4, 17))));
      assert.ok(clock.now() - oldest <= 10 * 60_000, 'nothing much older than the age limit');
      h.close();

      const small = history(dir, clock, 8 * 60_000, 4096);
      small.restore();
      feed(small, clock, 5);
      small.close();
      const left = fs.readdirSync(dir).filter((f) => f.startsWith('seg-'));
      const total = left.reduce((a, f) => a + fs.statSync(path.join(dir, f)).size, 0);
      // Over the budget only by the segment being written (rotated at an eighth of it).
      assert.ok(total <= 4096 + 1024, `size limit: ${left.length} segments, ${total} bytes`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('an alert that fires longer than the retention is still restored (each segment repeats the alerts in force)', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bulwark-hist-'));
    try {
      const clock = new ManualClock(1_700_000_000_000);
      const a = history(dir, clock, 8 * 60_000);
      a.restore();
      feed(a, clock, 1);
      a.recordAlerts([{ rule: 'NodeDown', fingerprint: 'f', labels: { alertname: 'NodeDown' }, annotations: {}, severity: 'critical', state: 'firing', activeAt: 1, firedAt: 2, value: 0 }]);
      feed(a, clock, 20 * 60, 1);
      a.close();
      const b = history(dir, clock, 8 * 60_000);
      b.restore();
      assert.equal(b.restoredAlerts()[0]?.rule, 'NodeDown');
      b.close();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('grows a metric\'s ring when a reload starts reading it over a range', () => {
    const store = new SeriesStore({ intervalMs: 1000, ranges: new Map() });
    const feedStore = (from: number, n: number) => {
      for (let i = from; i < from + n; i++) store.ingest('lb-1', i * 1000, [{ name: 'c_total', labels: {}, value: i }]);
    };
    feedStore(0, 20);
    assert.equal(store.range('c_total', [], -1, 20_000)[0]!.points.length, 2, 'one point kept (and one of slack) while nothing reads a range');
    store.setRanges(new Map([['c_total', 30_000]]));
    feedStore(20, 40);
    assert.equal(store.range('c_total', [], 29_000, 59_000)[0]!.points.length, 30);
    assert.equal(store.instant('c_total', [], 59_000)[0]!.value, 59, 'the live view follows the new ring');
  });
});
