/** When ACME orders, renews, retries and asks peers: the pure decision, and its loop on a ManualClock. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../src/core/clock.js';
import {
  AcmeSchedule, RECHECK_MS, decide, renewalTime, retryDelay, type HeldCertificate, type ScheduleInput,
} from '../../src/control-plane/certs/acme-schedule.js';
import { ChallengeResponder } from '../../src/data-plane/tls/index.js';

const DAY = 86_400_000;
const DIR = 'https://acme.test/dir';
const NAMES = ['www.example.test'];
const cert = (notBefore: number, days = 90, names = NAMES, directory = DIR): HeldCertificate => ({ names, notBefore, notAfter: notBefore + days * DAY, directory });
const input = (o: Partial<ScheduleInput>): ScheduleInput => ({
  held: undefined, names: NAMES, directory: DIR, renewAt: 2 / 3, active: true, failures: 0, lastFailureAt: undefined, lastPullAt: undefined, now: 0, ...o,
});

describe('renewal time and retry delay', () => {
  it('renews at the configured fraction of the lifetime', () => {
    assert.equal(renewalTime(cert(0), 2 / 3), 60 * DAY);
    assert.equal(renewalTime(cert(1000, 1), 0.5), 1000 + DAY / 2);
  });

  it('doubles the pause after each failure, from 10 s up to an hour', () => {
    assert.deepEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 100].map((n) => retryDelay(n) / 1000), [10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600]);
  });
});

describe('decide', () => {
  const table: [string, Partial<ScheduleInput>, string, RegExp][] = [
    ['no certificate, holding the VIP', {}, 'order:issue', /no certificate yet/],
    ['no certificate, passive', { active: false }, 'pull', /asking the peer lbs/],
    ['no certificate, passive, asked 1 s ago', { active: false, lastPullAt: 0, now: 1000 }, 'wait:4000', /waiting for the lb that holds the VIP/],
    ['good certificate', { held: cert(0), now: DAY }, `wait:${59 * DAY}`, /renewal at 1970-03-02/],
    ['good certificate, passive', { held: cert(0), now: DAY, active: false }, `wait:${59 * DAY}`, /good until/],
    ['renewal due', { held: cert(0), now: 60 * DAY }, 'order:renew', /renewal was due/],
    ['renewal due, passive', { held: cert(0), now: 60 * DAY, active: false }, 'pull', /renewal was due/],
    ['expired', { held: cert(0), now: 91 * DAY }, 'order:renew', /expired/],
    ['names changed', { held: cert(0, 90, ['old.example.test']), now: DAY }, 'order:renew', /names changed \(old\.example\.test → www\.example\.test\)/],
    ['directory changed', { held: cert(0, 90, NAMES, 'https://staging/dir'), now: DAY }, 'order:renew', /directory changed/],
    ['failed once 5 s ago', { failures: 1, lastFailureAt: 0, now: 5000 }, 'wait:5000', /retry 2 at/],
    ['failed once 10 s ago', { failures: 1, lastFailureAt: 0, now: 10_000 }, 'order:issue', /no certificate yet/],
    ['failed 3 times, 39 s after', { failures: 3, lastFailureAt: 0, now: 39_000 }, 'wait:1000', /retry 4/],
  ];
  for (const [name, i, want, why] of table) {
    it(name, () => {
      const d = decide(input(i));
      const got = d.action === 'order' ? `order:${d.kind}` : d.action === 'wait' ? `wait:${d.delayMs}` : d.action;
      assert.equal(got, want);
      assert.match(d.why, why);
    });
  }
});

/** The loop with scripted outcomes: each order call takes `orderMs` of clock time, then fails or "issues". */
function harness(o: { failFirst: number; active: () => boolean; lifetimeDays?: number }) {
  const clock = new ManualClock(0);
  const calls: { at: number; what: string }[] = [];
  let held: HeldCertificate | undefined;
  let failuresLeft = o.failFirst;
  const delays: number[] = [];
  const schedule = new AcmeSchedule({ names: NAMES, directory: DIR, renewAt: 2 / 3 }, clock, {
    view: () => ({ held, active: o.active() }),
    order: async (kind) => {
      calls.push({ at: clock.now(), what: `order:${kind}` });
      if (failuresLeft-- > 0) throw new Error('directory unreachable');
      held = cert(clock.now(), o.lifetimeDays ?? 90);
    },
    pull: async () => {
      calls.push({ at: clock.now(), what: 'pull' });
    },
    failed: (_kind, _err, retryInMs) => delays.push(retryInMs),
  });
  const settle = async (): Promise<void> => {
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  };
  /**
   * Advance in steps, letting each fired tick finish its awaits before time moves on (a scripted
   * order takes no clock time). Timers in these tests fall on whole steps.
   */
  const advance = async (ms: number, step = 1000): Promise<void> => {
    for (let t = 0; t < ms; t += step) {
      clock.advance(0);
      await settle();
      clock.advance(Math.min(step, ms - t));
      await settle();
    }
  };
  return { clock, calls, delays, schedule, advance, setHeld: (h: HeldCertificate) => (held = h) };
}

describe('AcmeSchedule on a ManualClock', () => {
  it('retries a failing order after 10 s, 20 s, 40 s, then renews at two thirds of the lifetime', async () => {
    const h = harness({ failFirst: 3, active: () => true });
    h.schedule.start();
    await h.advance(100_000);
    assert.deepEqual(h.calls.map((c) => `${c.what}@${c.at / 1000}`), ['order:issue@0', 'order:issue@10', 'order:issue@30', 'order:issue@70']);
    assert.deepEqual(h.delays, [10_000, 20_000, 40_000]);
    assert.equal(h.schedule.status().failures, 0);
    assert.equal(h.schedule.status().lastError, null);
    // Issued at 70 s with a 90-day life: renewal at 70 s + 60 days, not a moment before.
    await h.advance(60 * DAY - 100_000 + 70_000 - 1000, 3_600_000);
    assert.equal(h.calls.length, 4);
    await h.advance(2000);
    assert.deepEqual(h.calls.slice(4).map((c) => `${c.what}@${c.at - 70_000 - 60 * DAY}`), ['order:renew@0']);
    h.schedule.stop();
  });

  it('counts failures and the last error in its status while it backs off', async () => {
    const h = harness({ failFirst: 100, active: () => true });
    h.schedule.start();
    await h.advance(31_000);
    const s = h.schedule.status();
    assert.equal(s.failures, 3);
    assert.equal(s.lastError, 'directory unreachable');
    assert.equal(s.next, new Date(30_000 + 40_000).toISOString());
    h.schedule.stop();
  });

  it('a passive lb asks its peers every few seconds and orders once it holds the VIP', async () => {
    let active = false;
    const h = harness({ failFirst: 0, active: () => active });
    h.schedule.start();
    await h.advance(12_000);
    assert.deepEqual(h.calls.map((c) => `${c.what}@${c.at}`), ['pull@0', `pull@${RECHECK_MS}`, `pull@${2 * RECHECK_MS}`]);
    active = true;
    await h.advance(RECHECK_MS);
    assert.deepEqual(h.calls.at(-1), { at: 3 * RECHECK_MS, what: 'order:issue' });
    h.schedule.stop();
  });

  it('a certificate pushed by a peer is taken up at once (poke) and nothing is ordered', async () => {
    const h = harness({ failFirst: 0, active: () => false });
    h.schedule.start();
    await h.advance(1000);
    h.setHeld(cert(h.clock.now()));
    h.schedule.poke();
    await h.advance(3 * DAY, 3_600_000);
    assert.deepEqual(h.calls.map((c) => c.what), ['pull']);
    assert.match(h.schedule.status().why, /good until/);
    h.schedule.stop();
  });
});

describe('ChallengeResponder', () => {
  it('answers only the tokens it holds, under the HTTP-01 path', () => {
    const c = new ChallengeResponder();
    c.set('abc_DEF-123', 'abc_DEF-123.thumb');
    assert.equal(c.answer('/.well-known/acme-challenge/abc_DEF-123'), 'abc_DEF-123.thumb');
    assert.equal(c.answer('/.well-known/acme-challenge/abc_DEF-123?x=1'), 'abc_DEF-123.thumb');
    assert.equal(c.answer('/.well-known/acme-challenge/other'), undefined);
    assert.equal(c.answer('/abc_DEF-123'), undefined);
    assert.throws(() => c.set('../../etc/passwd', 'x'), /not an ACME token/);
    c.delete('abc_DEF-123');
    assert.equal(c.answer('/.well-known/acme-challenge/abc_DEF-123'), undefined);
  });
});
