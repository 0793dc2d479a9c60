/** The embedded DCS store in-process on a manual clock: the shared contract, then what only it does (its file). */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ManualClock } from '../../src/core/clock.js';
import { EmbeddedDcsLocal, EmbeddedDcsStore } from '../../src/control-plane/pg-ha/dcs/index.js';
import { dcsContract } from './dcs-contract.js';

const T0 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

function flush(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

dcsContract('DCS contract: embedded store, in-process, manual clock', async () => {
  const clock = new ManualClock(T0);
  const store = new EmbeddedDcsStore({ cluster: 'unit', clock });
  const dcs = new EmbeddedDcsLocal(store);
  const other = new EmbeddedDcsLocal(store);
  return {
    dcs,
    other,
    advance: async (ms: number) => {
      clock.advance(ms);
      await flush();
    },
    stop: async () => store.close(),
    cleanup: async () => {
      await dcs.close();
      await other.close();
      store.close();
    },
  };
});

function tempFile(): { file: string; dir: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bulwark-dcs-'));
  return { dir, file: path.join(dir, 'dcs.json') };
}

describe('embedded DCS store: revisions and waits', () => {
  it('a wait does not miss a change made between a read and the wait', async () => {
    const clock = new ManualClock(T0);
    const store = new EmbeddedDcsStore({ cluster: 'unit', clock });
    const a = new EmbeddedDcsLocal(store);
    const b = new EmbeddedDcsLocal(store);
    await a.read();
    await b.setDoc('config', { x: 1 });
    let woke = false;
    void a.waitForChange(5000).then(() => (woke = true));
    await flush();
    assert.equal(woke, true, 'the change after our read must wake the wait at once');
    store.close();
  });

  it('renewing with the same TTL or touching with the same data does not wake waiters', async () => {
    const clock = new ManualClock(T0);
    const store = new EmbeddedDcsStore({ cluster: 'unit', clock });
    assert.equal(store.acquireLeader('a', 1000), true);
    store.touchMember('a', { role: 'primary' }, 1000);
    const rev = store.revision;
    const w = store.waitForChange(undefined, 5000);
    let result: { changed: boolean } | undefined;
    void w.then((r) => (result = r));
    clock.advance(500);
    assert.equal(store.renewLeader('a', 1000), true);
    store.touchMember('a', { role: 'primary' }, 1000);
    await flush();
    assert.equal(result, undefined);
    assert.equal(store.revision, rev);
    clock.advance(999); // 1499 ms after acquire, 999 after the renewal: still held
    assert.equal(store.read().view.leader?.holder, 'a');
    store.touchMember('a', { role: 'demoting' }, 1000);
    await flush();
    assert.deepEqual(result, { changed: true, revision: rev + 1 });
    store.close();
  });

  it('a `since` from a previous incarnation (ahead of the store) wakes at once', async () => {
    const store = new EmbeddedDcsStore({ cluster: 'unit', clock: new ManualClock(T0) });
    store.setDoc('config', {});
    assert.deepEqual(await store.waitForChange(store.revision + 40, 5000), { changed: true, revision: store.revision });
    store.close();
  });

  it('stored values are private copies: mutating the input or the view changes nothing', async () => {
    const store = new EmbeddedDcsStore({ cluster: 'unit', clock: new ManualClock(T0) });
    const data = { tags: ['a'] };
    store.touchMember('m', data, 1000);
    data.tags.push('b');
    const view = store.read().view;
    assert.deepEqual(view.members[0]?.data, { tags: ['a'] });
    assert.throws(() => (view.members[0]!.data.tags as string[]).push('c'), TypeError);
    store.close();
  });

  it('bad arguments are programmer errors (TypeError), not DCS outages', () => {
    const store = new EmbeddedDcsStore({ cluster: 'unit', clock: new ManualClock(T0) });
    assert.throws(() => store.acquireLeader('', 1000), TypeError);
    assert.throws(() => store.acquireLeader('a/b', 1000), TypeError);
    assert.throws(() => store.acquireLeader('a', 0), TypeError);
    assert.throws(() => store.acquireLeader('a', Number.NaN), TypeError);
    assert.throws(() => store.touchMember('a', [] as never, 1000), TypeError);
    assert.throws(() => store.setDoc('sync', undefined), TypeError);
    assert.throws(() => store.setDoc('nope' as 'sync', 1), TypeError);
    store.close();
  });
});

describe('embedded DCS store: its file', () => {
  it('a restart from the file is transparent: same lock, versions and deadlines', async () => {
    const { dir, file } = tempFile();
    try {
      const clock = new ManualClock(T0);
      const first = new EmbeddedDcsStore({ cluster: 'unit', clock, file });
      assert.equal(first.acquireLeader('db-1', 1000), true);
      first.touchMember('db-1', { role: 'primary' }, 1000);
      first.touchMember('db-2', { role: 'replica' }, 400);
      first.setDoc('initialize', { sysid: '7301' }, null);
      const before = first.read();
      first.close();
      assert.deepEqual(
        fs.readdirSync(dir),
        ['dcs.json'],
        'no temporary file left behind',
      );

      clock.advance(300);
      const second = new EmbeddedDcsStore({ cluster: 'unit', clock, file });
      const after = second.read();
      assert.deepEqual(after, before, 'same view and revision after the restart');
      assert.equal(second.renewLeader('db-1', 1000), true, 'the holder keeps renewing as if nothing happened');
      // db-2 keeps its original deadline (400 ms after it was touched), not a fresh TTL.
      clock.advance(99);
      assert.deepEqual(second.read().view.members.map((m) => m.name), ['db-1', 'db-2']);
      clock.advance(1);
      assert.deepEqual(second.read().view.members.map((m) => m.name), ['db-1']);
      assert.ok(second.setDoc('initialize', { sysid: 'x' }, after.view.docs.initialize!.version), 'old versions still match');
      assert.ok(second.revision > before.revision);
      second.close();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('keys that expired while the store was down are gone after the restart, and that is a new revision', async () => {
    const { dir, file } = tempFile();
    try {
      const clock = new ManualClock(T0);
      const first = new EmbeddedDcsStore({ cluster: 'unit', clock, file });
      first.acquireLeader('db-1', 1000);
      first.touchMember('db-1', {}, 1000);
      first.setDoc('history', [[1, 0]]);
      const rev = first.revision;
      first.close();
      clock.advance(1000);
      const second = new EmbeddedDcsStore({ cluster: 'unit', clock, file });
      const snap = second.read();
      assert.equal(snap.view.leader, undefined);
      assert.deepEqual(snap.view.members, []);
      assert.deepEqual(snap.view.docs.history?.value, [[1, 0]], 'documents have no TTL');
      assert.equal(snap.revision, rev + 1);
      assert.equal(second.acquireLeader('db-2', 1000), true);
      second.close();
      const third = new EmbeddedDcsStore({ cluster: 'unit', clock, file });
      assert.equal(third.read().view.leader?.holder, 'db-2');
      third.close();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a file of another cluster or a damaged file, naming it', () => {
    const { dir, file } = tempFile();
    try {
      const s = new EmbeddedDcsStore({ cluster: 'one', clock: new ManualClock(T0), file });
      s.setDoc('config', {});
      s.close();
      assert.throws(() => new EmbeddedDcsStore({ cluster: 'two', file }), /belongs to cluster "one", not "two"/);
      fs.writeFileSync(file, '{"format":"bulwark-embedded-dcs/1", "cluster": "one", "revis');
      assert.throws(() => new EmbeddedDcsStore({ cluster: 'one', file }), (err: Error) => err.message.includes(file) && /invalid JSON/.test(err.message));
      fs.writeFileSync(file, JSON.stringify({ format: 'bulwark-embedded-dcs/1', cluster: 'one', revision: 3, members: [], docs: { nope: { value: 1, version: 1 } } }));
      assert.throws(() => new EmbeddedDcsStore({ cluster: 'one', file }), /unknown document "nope"/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a write that cannot be persisted is reported as DcsUnavailableError', () => {
    const { dir, file } = tempFile();
    try {
      const s = new EmbeddedDcsStore({ cluster: 'one', clock: new ManualClock(T0), file });
      fs.rmSync(dir, { recursive: true, force: true });
      assert.throws(() => s.setDoc('config', {}), { name: 'DcsUnavailableError' });
      s.close();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
