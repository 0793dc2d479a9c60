/**
 * The firewall's keys in the cluster file: the lockout guard (enforce without admin networks, an
 * empty client_networks on a cluster with lbs) and the etcd peer port. Each problem names its key
 * at file:line:col and says how to fix it.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BulwarkError } from '../../src/core/errors.js';
import { parseClusterText, type ClusterSpec } from '../../src/config/index.js';

const FILE = 'c.yaml';

const cluster = (firewall: string, extra = ''): string => `cluster: t
nodes:
  - { name: lb-1, role: lb, address: 10.0.0.1 }
  - { name: db-1, role: db, address: 10.0.0.21 }
  - { name: mon-1, role: monitor, address: 10.0.0.31 }
firewall: ${firewall}
edge:
  vip: 10.0.0.100
  frontends: [ { name: pg, mode: tcp, port: 5433, default_backend: pg } ]
  backends: [ { name: pg, servers: [ { name: db-1, address: "10.0.0.21:5432" } ] } ]
${extra}`;

const load = (text: string): ClusterSpec => parseClusterText(text, FILE);

function problems(text: string): string[] {
  try {
    load(text);
  } catch (err) {
    assert.ok(err instanceof BulwarkError && err.code === 'BWK_CONFIG_INVALID', String(err));
    return [...err.details];
  }
  return assert.fail('expected the file to be rejected');
}

describe('firewall lockout guard', () => {
  it('refuses enforce when admin_networks is left out: SSH would close on every host unasked', () => {
    const [p, ...rest] = problems(cluster('{ host: enforce }'));
    assert.deepEqual(rest, []);
    assert.match(p!, /^c\.yaml:6:13: firewall\.host: enforce with no firewall\.admin_networks closes SSH/);
    assert.match(p!, /write admin_networks: \[\] to keep them closed on purpose/);
  });

  it('takes an explicit empty admin_networks as a deliberate choice, and plan-only without one', () => {
    assert.deepEqual(load(cluster('{ host: enforce, admin_networks: [] }')).firewall.adminNetworks, []);
    assert.deepEqual(load(cluster('\n  host: enforce\n  admin_networks: []')).firewall.adminNetworks, []);
    assert.equal(load(cluster('{ host: plan-only }')).firewall.host, 'plan-only');
    assert.equal(load(cluster('{ host: enforce, admin_networks: [10.9.0.0/16] }')).firewall.host, 'enforce');
  });

  it('refuses an empty client_networks on a cluster with lbs: the site would be unreachable', () => {
    const [p, ...rest] = problems(cluster('{ client_networks: [] }'));
    assert.deepEqual(rest, []);
    assert.match(p!, /^c\.yaml:6:13: firewall\.client_networks: is empty, so the host firewall of lb-1 admits no client to any frontend/);
    assert.match(p!, /leave the key out for everyone \(0\.0\.0\.0\/0 and ::\/0\)/);
    // Without lbs there is no frontend to reach.
    const noLb = cluster('{ client_networks: [] }').replace('  - { name: lb-1, role: lb, address: 10.0.0.1 }\n', '').replace(/edge:[^]*$/, '');
    assert.deepEqual(load(noLb).firewall.clientNetworks, []);
  });
});

describe('database.dcs.peer_port', () => {
  const dcs = (d: string): string => `database:\n  dcs: ${d}\n`;

  it('defaults to 2380 and takes another port', () => {
    const etcd = load(cluster('{}', dcs('{ type: etcd, endpoints: ["10.0.0.21:2379"] }'))).database!.dcs;
    assert.deepEqual(etcd, { type: 'etcd', endpoints: ['10.0.0.21:2379'], peerPort: 2380 });
    const other = load(cluster('{}', dcs('{ type: etcd, endpoints: ["10.0.0.21:2379"], peer_port: 12380 }'))).database!.dcs;
    assert.equal(other.type === 'etcd' && other.peerPort, 12380);
  });

  it('is a port, and only for etcd', () => {
    assert.match(problems(cluster('{}', dcs('{ type: etcd, endpoints: ["10.0.0.21:2379"], peer_port: 70000 }')))[0]!, /database\.dcs\.peer_port: /);
    assert.match(problems(cluster('{}', dcs('{ type: embedded, node: mon-1, peer_port: 2380 }')))[0]!,
      /database\.dcs\.peer_port: "peer_port" is for etcd/);
  });
});
