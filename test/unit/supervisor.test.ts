import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { PassThrough } from 'node:stream';
import type { spawn } from 'node:child_process';
import { pino } from 'pino';
import { ManualClock } from '../../src/core/clock.js';
import type { Logger } from '../../src/core/log.js';
import { ChildSupervisor, type ChildSupervisorOptions, type SupervisorState } from '../../src/node/supervisor.js';
import { eventually } from '../harness/eventually.js';

/** A child process stand-in: the test decides when it spawns, fails and exits. */
class FakeChild extends EventEmitter {
  readonly stdout = new PassThrough();
  readonly stderr = new PassThrough();
  readonly signals: string[] = [];
  constructor(public pid: number | undefined) {
    super();
  }
  kill(signal: NodeJS.Signals = 'SIGTERM'): boolean {
    this.signals.push(signal);
    return true;
  }
  spawned(): this {
    this.emit('spawn');
    return this;
  }
  exit(code: number | null, signal: NodeJS.Signals | null = null): void {
    this.emit('exit', code, signal);
  }
  failToSpawn(code = 'ENOENT'): void {
    this.pid = undefined;
    const err = Object.assign(new Error(`spawn demo ${code}`), { code, syscall: 'spawn demo' });
    this.emit('error', err);
  }
}

interface SpawnCall {
  file: string;
  args: readonly string[];
  options: { cwd?: string; env?: Record<string, string>; stdio?: unknown };
  child: FakeChild;
}

interface LogLine {
  level: string;
  msg: string;
  [key: string]: unknown;
}

function setup(over: Partial<ChildSupervisorOptions> = {}) {
  const clock = new ManualClock(1_000_000);
  const calls: SpawnCall[] = [];
  let nextPid = 4000;
  const spawnImpl = ((file: string, args: readonly string[], options: SpawnCall['options']) => {
    const child = new FakeChild(nextPid++);
    calls.push({ file, args, options, child });
    return child;
  }) as unknown as typeof spawn;
  const logs: LogLine[] = [];
  const logger: Logger = pino(
    { level: 'debug', base: {}, formatters: { level: (label) => ({ level: label }) } },
    { write: (line: string) => void logs.push(JSON.parse(line) as LogLine) },
  );
  const sup = new ChildSupervisor({
    name: 'app',
    command: ['node', 'server.js', '--flag'],
    cwd: '/srv/app',
    env: { PORT: '3000', PATH: '/usr/bin' },
    backoff: { initialMs: 1000, maxMs: 4000 },
    stableAfterMs: 10_000,
    stopTimeoutMs: 5000,
    clock,
    logger,
    spawnImpl,
    ...over,
  });
  const states: SupervisorState[] = [];
  sup.on('state', (s) => states.push(s.state));
  /** The most recent child. */
  const child = (): FakeChild => {
    const last = calls.at(-1);
    assert.ok(last, 'nothing was spawned');
    return last.child;
  };
  return { clock, calls, logs, sup, states, child };
}

/** Let queued promise callbacks run. */
const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

test('start() spawns the command with cwd and env; running once spawned', () => {
  const { sup, calls, child, states, clock } = setup();
  assert.equal(sup.status().state, 'stopped');
  sup.start();
  assert.equal(calls.length, 1);
  assert.equal(calls[0]!.file, 'node');
  assert.deepEqual(calls[0]!.args, ['server.js', '--flag']);
  assert.equal(calls[0]!.options.cwd, '/srv/app');
  assert.deepEqual(calls[0]!.options.env, { PORT: '3000', PATH: '/usr/bin' });
  assert.equal(sup.status().state, 'starting');
  clock.advance(5);
  child().spawned();
  const s = sup.status();
  assert.equal(s.state, 'running');
  assert.equal(s.pid, 4000);
  assert.equal(s.restarts, 0);
  assert.equal(s.since, 1_000_005);
  assert.deepEqual(states, ['starting', 'running']);
  sup.start(); // already running: no second child
  assert.equal(calls.length, 1);
});

test('restarts after exits with a doubling backoff capped at maxMs', () => {
  const { sup, calls, child, clock, logs } = setup();
  sup.start();
  child().spawned();
  const expectedDelays = [1000, 2000, 4000, 4000, 4000];
  for (const [i, delay] of expectedDelays.entries()) {
    clock.advance(100);
    child().exit(1);
    const s = sup.status();
    assert.equal(s.state, 'backoff');
    assert.equal(s.pid, undefined);
    assert.equal(s.nextRestartAt, clock.now() + delay, `delay before restart #${i + 1}`);
    assert.deepEqual(s.lastExit, { code: 1, signal: null, at: clock.now() });
    clock.advance(delay - 1);
    assert.equal(calls.length, i + 1, 'no restart before the backoff is over');
    clock.advance(1);
    assert.equal(calls.length, i + 2);
    assert.equal(sup.status().state, 'starting');
    assert.equal(sup.status().restarts, i + 1);
    assert.equal(sup.status().nextRestartAt, undefined);
    child().spawned();
  }
  const messages = logs.filter((l) => l.child === 'app' && /restarting/.test(l.msg)).map((l) => l.msg);
  assert.deepEqual(messages.slice(0, 3), [
    'app exited with code 1; restarting in 1s (restart #1)',
    'app exited with code 1; restarting in 2s (restart #2)',
    'app exited with code 1; restarting in 4s (restart #3)',
  ]);
  assert.equal(logs.find((l) => l.msg.startsWith('app exited'))?.level, 'warn');
});

test('a kill by signal is reported with the signal', () => {
  const { sup, child, logs } = setup();
  sup.start();
  child().spawned();
  child().exit(null, 'SIGKILL');
  assert.deepEqual(sup.status().lastExit?.signal, 'SIGKILL');
  assert.ok(logs.some((l) => l.msg === 'app was killed by SIGKILL; restarting in 1s (restart #1)'));
});

test('a run that lasts stableAfterMs resets the backoff', () => {
  const { sup, child, clock } = setup();
  sup.start();
  child().spawned();
  child().exit(1); // → 1s
  clock.advance(1000);
  child().spawned();
  child().exit(1); // → 2s
  assert.equal(sup.status().nextRestartAt, clock.now() + 2000);
  clock.advance(2000);
  child().spawned();
  clock.advance(9_999);
  child().exit(1); // not stable yet → 4s
  assert.equal(sup.status().nextRestartAt, clock.now() + 4000);
  clock.advance(4000);
  child().spawned();
  clock.advance(10_000);
  child().exit(1); // stable → back to 1s
  assert.equal(sup.status().nextRestartAt, clock.now() + 1000);
  clock.advance(1000);
  child().spawned();
  child().exit(1); // and doubling again from there
  assert.equal(sup.status().nextRestartAt, clock.now() + 2000);
});

test('a spawn error (ENOENT) is logged, sets lastError and backs off like an exit', () => {
  const { sup, calls, child, clock, logs } = setup();
  sup.start();
  child().failToSpawn('ENOENT');
  child().exit(-2); // node may report an exit as well: counted once
  const s = sup.status();
  assert.equal(s.state, 'backoff');
  assert.equal(s.lastError, 'spawn demo ENOENT');
  assert.equal(s.lastExit, undefined);
  assert.equal(s.nextRestartAt, clock.now() + 1000);
  const line = logs.find((l) => l.msg.includes('could not be started'));
  assert.ok(line, 'a log line names the failure');
  assert.match(line.msg, /^app could not be started: spawn demo ENOENT \(is "node" installed .*\); restarting in 1s \(restart #1\)$/);
  clock.advance(1000);
  assert.equal(calls.length, 2, 'retried after the backoff');
  child().failToSpawn('ENOENT');
  assert.equal(sup.status().nextRestartAt, clock.now() + 2000);
});

test('a real spawn of a missing command is reported as a spawn error', async () => {
  const { clock } = setup();
  const logs: LogLine[] = [];
  const sup = new ChildSupervisor({
    name: 'ghost',
    command: ['bulwark-test-no-such-command-3f9a'],
    cwd: process.cwd(),
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
    backoff: { initialMs: 1000, maxMs: 1000 },
    stopTimeoutMs: 1000,
    clock,
    logger: pino({ base: {} }, { write: (line: string) => void logs.push(JSON.parse(line) as LogLine) }),
  });
  sup.start();
  const s = await eventually(() => {
    const st = sup.status();
    assert.equal(st.state, 'backoff');
    return st;
  });
  assert.match(s.lastError ?? '', /ENOENT/);
  assert.ok(logs.some((l) => l.msg.startsWith('ghost could not be started: spawn bulwark-test-no-such-command-3f9a ENOENT')));
  await sup.stop();
  assert.equal(sup.status().state, 'stopped');
  assert.equal(clock.pending(), 0);
});

test('stop() sends SIGTERM, SIGKILL after stopTimeoutMs, and resolves when the child has exited', async () => {
  const { sup, child, clock, calls, states } = setup();
  sup.start();
  child().spawned();
  let resolved = false;
  const stopped = sup.stop().then(() => (resolved = true));
  assert.deepEqual(child().signals, ['SIGTERM']);
  clock.advance(4999);
  assert.deepEqual(child().signals, ['SIGTERM']);
  clock.advance(1);
  assert.deepEqual(child().signals, ['SIGTERM', 'SIGKILL']);
  await flush();
  assert.equal(resolved, false, 'stop() waits for the exit');
  assert.equal(sup.status().state, 'running');
  child().exit(null, 'SIGKILL');
  await stopped;
  const s = sup.status();
  assert.equal(s.state, 'stopped');
  assert.equal(s.pid, undefined);
  assert.equal(s.lastExit?.signal, 'SIGKILL');
  assert.equal(clock.pending(), 0, 'no restart scheduled');
  clock.advance(60_000);
  assert.equal(calls.length, 1);
  assert.deepEqual(states, ['starting', 'running', 'stopped']);
});

test('stop() of a child that exits on SIGTERM cancels the SIGKILL timer', async () => {
  const { sup, child, clock } = setup();
  sup.start();
  child().spawned();
  const stopped = sup.stop();
  child().exit(0);
  await stopped;
  assert.equal(clock.pending(), 0);
  assert.deepEqual(child().signals, ['SIGTERM']);
  assert.deepEqual(sup.status().lastExit, { code: 0, signal: null, at: clock.now() });
});

test('stop() is idempotent', async () => {
  const { sup, child } = setup();
  await sup.stop(); // never started
  assert.equal(sup.status().state, 'stopped');
  sup.start();
  child().spawned();
  const a = sup.stop();
  const b = sup.stop();
  assert.equal(a, b, 'concurrent stops share one promise');
  child().exit(0);
  await Promise.all([a, b]);
  await sup.stop();
  assert.deepEqual(child().signals, ['SIGTERM']);
  assert.equal(sup.status().state, 'stopped');
});

test('stop() during backoff cancels the pending restart', async () => {
  const { sup, child, clock, calls } = setup();
  sup.start();
  child().spawned();
  child().exit(1);
  assert.equal(sup.status().state, 'backoff');
  await sup.stop();
  const s = sup.status();
  assert.equal(s.state, 'stopped');
  assert.equal(s.nextRestartAt, undefined);
  assert.equal(clock.pending(), 0);
  clock.advance(10_000);
  assert.equal(calls.length, 1);
});

test('restart() stops the child and starts a new one with a fresh backoff', async () => {
  const { sup, child, calls, clock } = setup();
  sup.start();
  child().spawned();
  child().exit(1);
  clock.advance(1000);
  child().spawned();
  child().exit(1); // backoff is at 2s now
  clock.advance(2000);
  child().spawned();
  const first = child();
  const restarted = sup.restart();
  assert.deepEqual(first.signals, ['SIGTERM']);
  first.exit(0);
  await restarted;
  assert.equal(calls.length, 4);
  assert.equal(sup.status().state, 'starting');
  child().spawned();
  child().exit(1);
  assert.equal(sup.status().nextRestartAt, clock.now() + 1000, 'backoff starts over');
});

test('start() during a stop starts again once the old child has exited; the last call wins', async () => {
  const { sup, child, calls } = setup();
  sup.start();
  child().spawned();
  const stopped = sup.stop();
  sup.start();
  assert.equal(calls.length, 1, 'not before the old child is gone');
  child().exit(0);
  await stopped;
  assert.equal(calls.length, 2);
  child().spawned();
  assert.equal(sup.status().state, 'running');

  const stopped2 = sup.stop();
  sup.start();
  const stopped3 = sup.stop(); // changed its mind again
  child().exit(0);
  await Promise.all([stopped2, stopped3]);
  assert.equal(calls.length, 2);
  assert.equal(sup.status().state, 'stopped');
});

test('the state event follows every transition', async () => {
  const { sup, child, clock, states } = setup();
  const seen: Array<{ state: string; pid?: number }> = [];
  sup.on('state', (s) => seen.push({ state: s.state, ...(s.pid ? { pid: s.pid } : {}) }));
  sup.start();
  child().spawned();
  child().exit(1);
  clock.advance(1000);
  child().spawned();
  const stopped = sup.stop();
  child().exit(0);
  await stopped;
  assert.deepEqual(states, ['starting', 'running', 'backoff', 'starting', 'running', 'stopped']);
  assert.deepEqual(seen, [
    { state: 'starting', pid: 4000 },
    { state: 'running', pid: 4000 },
    { state: 'backoff' },
    { state: 'starting', pid: 4001 },
    { state: 'running', pid: 4001 },
    { state: 'stopped' },
  ]);
});

test('maxRestarts: too many restarts without a stable run → failed; start() tries again', () => {
  const { sup, child, clock, calls, logs } = setup({ maxRestarts: 2 });
  sup.start();
  child().spawned();
  child().exit(1);
  clock.advance(1000);
  child().spawned();
  child().exit(1);
  clock.advance(2000);
  child().spawned();
  child().exit(1);
  const s = sup.status();
  assert.equal(s.state, 'failed');
  assert.equal(s.restarts, 2);
  assert.equal(clock.pending(), 0);
  assert.ok(logs.some((l) => l.level === 'error' && /giving up after 2 restarts/.test(l.msg)));
  sup.start();
  assert.equal(calls.length, 4);
  assert.equal(sup.status().state, 'starting');
});

test("the child's stdout and stderr are logged line by line", async () => {
  const { sup, child, logs } = setup();
  sup.start();
  child().spawned();
  child().stdout.write('hello\nwor');
  child().stdout.write('ld\r\n');
  child().stdout.end('tail');
  child().stderr.end('oops\n');
  await eventually(() => assert.ok(logs.some((l) => l.msg === 'tail')));
  const out = logs.filter((l) => l.stream !== undefined).map((l) => ({ level: l.level, msg: l.msg, stream: l.stream, child: l.child }));
  assert.deepEqual(
    out.filter((l) => l.stream === 'stdout'),
    [
      { level: 'info', msg: 'hello', stream: 'stdout', child: 'app' },
      { level: 'info', msg: 'world', stream: 'stdout', child: 'app' },
      { level: 'info', msg: 'tail', stream: 'stdout', child: 'app' },
    ],
  );
  assert.deepEqual(out.filter((l) => l.stream === 'stderr'), [{ level: 'warn', msg: 'oops', stream: 'stderr', child: 'app' }]);
});

test('given streams receive the child output as whole lines', async () => {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (c: Buffer) => (out += c.toString()));
  stderr.on('data', (c: Buffer) => (err += c.toString()));
  const { sup, child, logs } = setup({ stdout, stderr });
  sup.start();
  child().spawned();
  child().stdout.write('{"msg":"listen');
  child().stdout.write('ing"}\nsecond\n');
  child().stderr.write('warn\n');
  await eventually(() => {
    assert.equal(out, '{"msg":"listening"}\nsecond\n');
    assert.equal(err, 'warn\n');
  });
  assert.ok(!logs.some((l) => l.stream !== undefined), 'not logged when streams are given');
});

test('bad options are rejected at construction', () => {
  assert.throws(() => setup({ command: [] }), /command is empty/);
  assert.throws(() => setup({ backoff: { initialMs: 0, maxMs: 10 } }), /backoff/);
  assert.throws(() => setup({ backoff: { initialMs: 100, maxMs: 10 } }), /backoff/);
});
