/** Loading cluster files: the example, defaults, a full file (golden), freezing, findNode, paths. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { BulwarkError } from '../../src/core/errors.js';
import {
  DEFAULTS, defaultConfigPath, findNode, loadClusterFile, parseClusterText, type ClusterSpec,
} from '../../src/config/index.js';

/** Repository root, from dist/test/unit/. */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const FIXTURES = join(ROOT, 'test', 'fixtures', 'config');
const EXAMPLE = join(ROOT, 'examples', 'local.yaml');

function thrown(fn: () => unknown): BulwarkError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof BulwarkError, `expected a BulwarkError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected an error');
}

describe('examples/local.yaml', () => {
  const spec = loadClusterFile(EXAMPLE);

  it('loads with its nodes, roles and derived values', () => {
    assert.equal(spec.cluster, 'example');
    assert.equal(spec.sourcePath, EXAMPLE);
    assert.equal(spec.stateDir, join(ROOT, '.bulwark'));
    assert.deepEqual(spec.nodes.map((n) => `${n.name}/${n.role}/${n.address}/${n.agentPort}/${n.priority}`), [
      'lb-1/lb/127.0.1.1/7700/100',
      'lb-2/lb/127.0.1.2/7700/99',
      'web-1/web/127.0.1.11/7700/0',
      'web-2/web/127.0.1.12/7700/0',
      'web-3/web/127.0.1.13/7700/0',
      'db-1/db/127.0.1.21/7700/0',
      'db-2/db/127.0.1.22/7700/0',
      'mon-1/monitor/127.0.1.31/7700/0',
    ]);
  });

  it('resolves node servers to their node address and the app port', () => {
    const app = spec.edge.backends[0]!;
    assert.equal(app.mode, 'http');
    assert.deepEqual(app.servers.map((s) => [s.name, s.host, s.port, s.backup, s.node]), [
      ['web-1', '127.0.1.11', 3000, false, 'web-1'],
      ['web-2', '127.0.1.12', 3000, false, 'web-2'],
      ['web-3', '127.0.1.13', 3000, true, 'web-3'],
    ]);
    assert.deepEqual(app.healthCheck, {
      type: 'http', path: '/healthz', intervalMs: 1000, timeoutMs: 500, rise: 2, fall: 2, expectStatus: [],
    });
  });

  it('reads the app with its cwd next to the cluster file', () => {
    assert.deepEqual(spec.web.app.command, ['node', 'demo-app/server.js']);
    assert.equal(spec.web.app.cwd, join(ROOT, 'examples'));
    assert.equal(spec.web.app.healthPath, '/healthz');
    assert.deepEqual(spec.edge.frontends.map((f) => [f.name, f.mode, f.port]), [['www', 'http', 8080]]);
    assert.deepEqual(spec.edge.frontends[0]!.routes, [{ pathPrefix: '/', backend: 'app' }]);
  });

  it('is deeply frozen', () => {
    assert.ok(Object.isFrozen(spec));
    assert.ok(Object.isFrozen(spec.nodes[0]));
    assert.ok(Object.isFrozen(spec.edge.backends[0]!.servers[2]));
    assert.ok(Object.isFrozen(spec.web.app.env));
    assert.throws(() => {
      (spec.edge.backends[0]!.servers[0] as { weight: number }).weight = 5;
    }, TypeError);
    assert.throws(() => (spec.nodes as unknown as unknown[]).push({}), TypeError);
  });
});

describe('defaults', () => {
  const spec = loadClusterFile(join(FIXTURES, 'minimal.yaml'));

  it('fills every top-level default', () => {
    assert.equal(spec.stateDir, join(FIXTURES, '.bulwark'));
    assert.deepEqual(spec.agent, { port: 7700 });
    assert.deepEqual(spec.log, { level: 'info' });
    assert.deepEqual(spec.nodes.map((n) => [n.agentPort, n.priority]), [[7700, 100], [7700, 0]]);
  });

  it('fills frontend defaults', () => {
    assert.deepEqual(spec.edge.frontends[0], {
      name: 'www',
      mode: 'http',
      port: 8080,
      redirectToHttps: true,
      proxyProtocol: false,
      routes: [],
      defaultBackend: 'app',
      timeouts: { requestHeaderMs: 10_000, keepAliveMs: 60_000, idleMs: 300_000 },
      limits: { maxHeaderBytes: 16_384, maxHeaders: 100, maxUrlBytes: 8192, maxBodyBytes: 16_777_216 },
      accessLog: true,
    });
  });

  it('fills backend defaults', () => {
    assert.deepEqual(spec.edge.backends[0], {
      name: 'app',
      mode: 'http',
      balance: { policy: 'roundrobin', hashOn: 'source', cookie: 'bwk_srv' },
      servers: [{ name: 'web-1', host: '127.0.2.11', port: 3000, weight: 1, backup: false, maxconn: 0, node: 'web-1' }],
      healthCheck: { type: 'http', path: '/', intervalMs: 2000, timeoutMs: 1000, rise: 2, fall: 3, expectStatus: [] },
      passiveHealth: { enabled: true, consecutiveFailures: 3, ejectMs: 10_000, maxEjectMs: 300_000, count5xx: false },
      retries: { attempts: 2, budgetRatio: 0.2, minPerSecond: 10 },
      timeouts: { connectMs: 2000, responseHeaderMs: 30_000, idleMs: 60_000, keepAliveMs: 30_000 },
      queue: { size: 256, timeoutMs: 5000 },
      poolSize: 64,
      onMarkedDown: 'keep',
    });
  });

  it('fills app defaults', () => {
    assert.deepEqual(spec.web.app, {
      command: ['node', 'app.js'],
      cwd: FIXTURES,
      port: 3000,
      env: {},
      healthPath: '/healthz',
      restartBackoffMs: { initial: 500, max: 30_000 },
      stopTimeoutMs: 10_000,
    });
  });

  it('does not share (or freeze) the DEFAULTS objects', () => {
    assert.notEqual(spec.web.app.env, DEFAULTS.app.env);
    assert.equal(Object.isFrozen(DEFAULTS.app.env), false);
  });

  it('derives tcp mode and tcp health checks from a tcp frontend', () => {
    const s = parseClusterText([
      'cluster: t',
      'nodes: [{ name: lb-1, role: lb, address: 127.0.0.2 }]',
      'edge:',
      '  vip: 127.0.0.3',
      '  frontends: [{ name: pg, mode: tcp, port: 5432, default_backend: db }]',
      '  backends: [{ name: db, servers: [{ name: a, address: "10.0.0.1:5432" }] }]',
    ].join('\n'), '/tmp/t/c.yaml');
    assert.equal(s.edge.backends[0]!.mode, 'tcp');
    assert.equal(s.edge.backends[0]!.healthCheck.type, 'tcp');
  });

  it('leaves edge and web empty when no node needs them', () => {
    const s = parseClusterText('cluster: t\nnodes: [{ name: db-1, role: db, address: 10.0.0.1 }]\n', '/srv/c/bulwark.yaml');
    const standby = { leaseMs: 600, heartbeatMs: 100, preempt: false, preemptDelayMs: 5000, minHoldMs: 2000, voters: [], announceIntervalMs: 1000, notify: {} };
    assert.deepEqual(s.edge, { vip: '', standby, frontends: [], backends: [] });
    assert.deepEqual(s.web.app.command, []);
    assert.equal(s.web.app.cwd, '/srv/c');
    assert.equal(s.stateDir, '/srv/c/.bulwark');
    assert.equal(s.sourcePath, '/srv/c/bulwark.yaml');
  });
});

describe('a file with every key (golden)', () => {
  it('maps every snake_case key to its camelCase field', () => {
    const spec = loadClusterFile(join(FIXTURES, 'full.yaml'));
    const expected: ClusterSpec = {
      cluster: 'full',
      sourcePath: join(FIXTURES, 'full.yaml'),
      stateDir: '/var/lib/bulwark',
      agent: { port: 7800 },
      nodes: [
        { name: 'lb-a', role: 'lb', address: '10.0.0.1', agentPort: 7800, priority: 10, nofailover: false },
        { name: 'lb-b', role: 'lb', address: '10.0.0.2', agentPort: 7801, priority: 99, nofailover: false },
        { name: 'web-a', role: 'web', address: '10.0.0.11', agentPort: 7800, priority: 0, nofailover: false },
        { name: 'db-a', role: 'db', address: 'fd00::21', agentPort: 7800, priority: 0, nofailover: true },
        { name: 'mon-a', role: 'monitor', address: '10.0.0.31', agentPort: 7800, priority: 0, nofailover: false },
      ],
      firewall: { host: 'enforce', clientNetworks: ['192.0.2.0/24', '2001:db8::/32'], adminNetworks: ['10.9.0.0/16'], sshPort: 2222, confirmTimeoutMs: 60_000 },
      edge: {
        vip: '10.0.0.100',
        standby: {
          leaseMs: 900, heartbeatMs: 150, preempt: true, preemptDelayMs: 10_000, minHoldMs: 3000,
          voters: ['lb-a', 'lb-b', 'mon-a'], interface: 'eth0', announceIntervalMs: 2000,
          notify: { onActive: '/usr/local/bin/float-ip claim', onPassive: 'logger passive', onFault: 'logger fault' },
        },
        tls: {
          source: 'files', names: [], hstsMaxAgeMs: 30 * 86_400_000,
          certificates: [{ cert: join(FIXTURES, 'certs/example.crt'), key: '/etc/bulwark/example.key' }],
        },
        frontends: [
          {
            name: 'www',
            mode: 'http',
            port: 80,
            httpsPort: 443,
            redirectToHttps: false,
            proxyProtocol: false,
            routes: [
              { host: '*.example.com', pathPrefix: '/api', backend: 'api' },
              { host: 'example.com', pathPrefix: '/', backend: 'site' },
            ],
            defaultBackend: 'site',
            timeouts: { requestHeaderMs: 5000, keepAliveMs: 30_000, idleMs: 120_000 },
            limits: { maxHeaderBytes: 32 * 1024, maxHeaders: 50, maxUrlBytes: 4096, maxBodyBytes: 1024 * 1024 },
            accessLog: false,
          },
          {
            name: 'pg',
            mode: 'tcp',
            port: 5432,
            redirectToHttps: true,
            proxyProtocol: false,
            routes: [],
            defaultBackend: 'pg',
            timeouts: { requestHeaderMs: 10_000, keepAliveMs: 60_000, idleMs: 300_000 },
            limits: { maxHeaderBytes: 16_384, maxHeaders: 100, maxUrlBytes: 8192, maxBodyBytes: 16_777_216 },
            accessLog: true,
          },
        ],
        backends: [
          {
            name: 'api',
            mode: 'http',
            balance: { policy: 'hash', hashOn: 'header', hashKey: 'X-User', cookie: 'srv' },
            servers: [
              { name: 'web-a', host: '10.0.0.11', port: 4001, weight: 3, backup: false, maxconn: 100, node: 'web-a' },
              { name: 'outside', host: '::1', port: 3000, weight: 1, backup: true, maxconn: 0 },
            ],
            healthCheck: {
              type: 'http', path: '/health', host: 'api.example.com', intervalMs: 5000, timeoutMs: 2000,
              rise: 1, fall: 5, expectStatus: [200, 204], port: 8008,
            },
            passiveHealth: { enabled: false, consecutiveFailures: 5, ejectMs: 30_000, maxEjectMs: 600_000, count5xx: true },
            retries: { attempts: 0, budgetRatio: 0.1, minPerSecond: 1 },
            timeouts: { connectMs: 1000, responseHeaderMs: 10_000, idleMs: 20_000, keepAliveMs: 15_000 },
            queue: { size: 10, timeoutMs: 1000 },
            poolSize: 8,
            onMarkedDown: 'keep',
          },
          {
            name: 'site',
            mode: 'http',
            balance: { policy: 'sticky', hashOn: 'source', cookie: 'bwk_srv' },
            servers: [{ name: 'web-a', host: '10.0.0.11', port: 4000, weight: 1, backup: false, maxconn: 0, node: 'web-a' }],
            healthCheck: { type: 'http', path: '/', intervalMs: 2000, timeoutMs: 1000, rise: 2, fall: 3, expectStatus: [200] },
            passiveHealth: { enabled: true, consecutiveFailures: 3, ejectMs: 10_000, maxEjectMs: 300_000, count5xx: false },
            retries: { attempts: 2, budgetRatio: 0.2, minPerSecond: 10 },
            timeouts: { connectMs: 2000, responseHeaderMs: 30_000, idleMs: 60_000, keepAliveMs: 30_000 },
            queue: { size: 256, timeoutMs: 5000 },
            poolSize: 64,
            onMarkedDown: 'keep',
          },
          {
            name: 'pg',
            mode: 'tcp',
            balance: { policy: 'roundrobin', hashOn: 'source', cookie: 'bwk_srv' },
            servers: [{ name: 'db-a', host: 'db.internal', port: 5432, weight: 1, backup: false, maxconn: 0 }],
            healthCheck: { type: 'tcp', path: '/', intervalMs: 2000, timeoutMs: 1000, rise: 2, fall: 3, expectStatus: [] },
            passiveHealth: { enabled: true, consecutiveFailures: 3, ejectMs: 10_000, maxEjectMs: 300_000, count5xx: false },
            retries: { attempts: 2, budgetRatio: 0.2, minPerSecond: 10 },
            timeouts: { connectMs: 2000, responseHeaderMs: 30_000, idleMs: 60_000, keepAliveMs: 30_000 },
            queue: { size: 256, timeoutMs: 5000 },
            poolSize: 64,
            onMarkedDown: 'shutdown',
          },
        ],
      },
      web: {
        app: {
          command: ['node', 'server.js', '--port', '4000'],
          cwd: join(FIXTURES, 'app'),
          port: 4000,
          env: { NODE_ENV: 'production', WORKERS: '4', DEBUG: 'false' },
          healthPath: '/ready',
          restartBackoffMs: { initial: 1000, max: 60_000 },
          stopTimeoutMs: 20_000,
        },
      },
      database: {
        mode: 'async', strict: true, port: 5433, name: 'shop', user: 'shopper', binDir: '/usr/lib/postgresql/15/bin',
        ttlMs: 10_000, loopMs: 2000, maximumLagOnFailoverBytes: 4 * 1024 * 1024, failsafe: false,
        dcs: { type: 'etcd', endpoints: ['10.0.0.41:2379', '10.0.0.42:2379'], peerPort: 2380 },
        router: { rwPort: 7432, roPort: 7433, maxLagBytes: 64 * 1024, checkIntervalMs: 1000 },
        parameters: { max_connections: '200', shared_buffers: '256MB' },
      },
      monitor: {
        port: 9444, scrapeIntervalMs: 2000, scrapeTimeoutMs: 1500, retention: { ageMs: 7 * 86_400_000, sizeBytes: 1024 ** 3 },
        externalUrl: 'https://mon.example.com',
        rules: [
          { name: 'NodeDown', forMs: 0, severity: 'warning', labels: {}, annotations: {}, enabled: true },
          { name: 'DiskNearlyFull', labels: {}, annotations: {}, enabled: false },
          {
            name: 'SlowCheckout', expr: 'histogram_quantile(0.99, sum by (le) (rate(bulwark_http_request_duration_seconds_bucket{backend="api"}[5m]))) > 0.5',
            forMs: 600_000, severity: 'info', labels: { team: 'shop' }, annotations: { summary: 'checkout p99 is {{ $value }}s' }, enabled: true,
          },
        ],
        receivers: [{
          name: 'ops', url: 'https://hooks.example.com/alerts', match: { severity: 'critical' }, groupBy: ['alertname', 'node'],
          groupWaitMs: 0, groupIntervalMs: 30_000, repeatIntervalMs: 3_600_000, sendResolved: false, timeoutMs: 2000, retries: 3,
        }],
      },
      log: { level: 'debug' },
    };
    assert.deepEqual(spec, expected);
  });
});

describe('findNode', () => {
  const spec = loadClusterFile(EXAMPLE);

  it('returns the node', () => {
    assert.equal(findNode(spec, 'db-2').address, '127.0.1.22');
  });

  it('throws BWK_NODE_UNKNOWN listing the known names', () => {
    const err = thrown(() => findNode(spec, 'web-9'));
    assert.equal(err.code, 'BWK_NODE_UNKNOWN');
    assert.match(err.message, /unknown node "web-9"/);
    assert.match(err.message, /lb-1, lb-2, web-1, web-2, web-3, db-1, db-2, mon-1/);
    assert.equal(err.details.length, 8);
  });
});

describe('loadClusterFile errors', () => {
  it('names a missing file (BWK_CONFIG_NOT_FOUND)', () => {
    const err = thrown(() => loadClusterFile(join(FIXTURES, 'no-such-file.yaml')));
    assert.equal(err.code, 'BWK_CONFIG_NOT_FOUND');
    assert.match(err.message, /no-such-file\.yaml does not exist/);
  });

  it('says when the path is a folder', () => {
    const err = thrown(() => loadClusterFile(FIXTURES));
    assert.equal(err.code, 'BWK_CONFIG_NOT_FOUND');
    assert.match(err.message, /is a folder/);
  });
});

describe('defaultConfigPath', () => {
  it('prefers bulwark.yaml in the current folder', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bwk-config-'));
    try {
      writeFileSync(join(dir, 'bulwark.yaml'), 'cluster: x\n');
      assert.equal(defaultConfigPath(dir), join(dir, 'bulwark.yaml'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('falls back to the repository example', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bwk-config-'));
    try {
      assert.equal(defaultConfigPath(dir), EXAMPLE);
      assert.equal(dirname(defaultConfigPath(dir)), join(ROOT, 'examples'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
