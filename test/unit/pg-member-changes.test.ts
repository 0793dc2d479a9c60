/** What a reload changes for a running db member: applied now (members, clients) or at its restart. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseClusterText } from '../../src/config/index.js';
import { memberChanges } from '../../src/control-plane/pg-ha/index.js';

function spec(nodes: string[], database: string[] = []): ReturnType<typeof parseClusterText> {
  return parseClusterText([
    'cluster: t',
    'nodes:',
    ...nodes.map((n) => `  - ${n}`),
    '  - { name: mon-1, role: monitor, address: 127.0.1.31 }',
    'web:',
    '  app: { command: [node, app.js], port: 3000 }',
    'database:',
    '  dcs: { type: embedded, node: mon-1 }',
    ...database,
  ].join('\n'), 'c.yaml');
}

const WEB1 = '{ name: web-1, role: web, address: 127.0.1.11 }';
const WEB2 = '{ name: web-2, role: web, address: 127.0.1.12 }';
const DB1 = '{ name: db-1, role: db, address: 127.0.1.21 }';
const DB2 = '{ name: db-2, role: db, address: 127.0.1.22 }';
const DB3 = '{ name: db-3, role: db, address: 127.0.1.23 }';

describe('memberChanges', () => {
  it('nothing changed', () => {
    const a = spec([WEB1, DB1, DB2]);
    assert.deepEqual(memberChanges(a, spec([WEB1, DB1, DB2]), 'db-1'), { added: [], removed: [], moved: [], clientsChanged: false, restartOnly: [] });
  });
  it('a replica added, then removed', () => {
    const two = spec([WEB1, DB1, DB2]);
    const three = spec([WEB1, DB1, DB2, DB3]);
    assert.deepEqual(memberChanges(two, three, 'db-1').added, ['db-3']);
    assert.deepEqual(memberChanges(three, two, 'db-2').removed, ['db-3']);
    assert.deepEqual(memberChanges(three, two, 'db-2').added, []);
  });
  it('another member at a new address, and web nodes added (pg_hba admits them)', () => {
    const ch = memberChanges(spec([WEB1, DB1, DB2]), spec([WEB1, WEB2, DB1, DB2.replace('.22', '.29')]), 'db-1');
    assert.deepEqual(ch.moved, ['db-2']);
    assert.equal(ch.clientsChanged, true);
  });
  it('database settings and this node\'s own nofailover wait for a restart, in the file\'s words; router does not', () => {
    const ch = memberChanges(spec([WEB1, DB1, DB2]), spec([WEB1, DB1, DB2.replace(' }', ', nofailover: true }')], [
      '  mode: async', '  ttl: 5s', '  router: { max_lag: 2MiB }', '  parameters: { work_mem: 8MB }',
    ]), 'db-2');
    assert.deepEqual(ch.restartOnly, ['database.mode', 'database.ttl', 'database.parameters', 'nofailover of db-2']);
    assert.deepEqual(ch.added, []);
  });
});
