/**
 * Every kind of problem in a cluster file: the right code, the key path in YAML spelling, and the
 * exact file:line:col (of the key, or of the parent mapping for a missing key). All problems of a
 * file are reported together, sorted by position.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BulwarkError } from '../../src/core/errors.js';
import { parseClusterText } from '../../src/config/index.js';

const FILE = 'c.yaml';

function failure(text: string): BulwarkError {
  try {
    parseClusterText(text, FILE);
  } catch (err) {
    assert.ok(err instanceof BulwarkError, `expected a BulwarkError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected the file to be rejected');
}

/** The problem lines of an invalid file, with the `c.yaml:` prefix removed. */
function problems(...lines: string[]): string[] {
  const err = failure(lines.join('\n'));
  assert.equal(err.code, 'BWK_CONFIG_INVALID', err.describe());
  const n = err.details.length;
  assert.equal(err.message, `${FILE}: ${n} problem${n === 1 ? '' : 's'}`);
  return err.details.map((d) => {
    assert.ok(d.startsWith(`${FILE}:`), d);
    return d.slice(FILE.length + 1);
  });
}

/** A valid cluster; tests replace lines (1-based) or append lines to it. */
const BASE = [
  /*  1 */ 'cluster: t',
  /*  2 */ 'nodes:',
  /*  3 */ '  - { name: lb-1, role: lb, address: 127.0.1.1 }',
  /*  4 */ '  - { name: web-1, role: web, address: 127.0.1.11 }',
  /*  5 */ '  - { name: web-2, role: web, address: 127.0.1.12 }',
  /*  6 */ 'web:',
  /*  7 */ '  app: { command: [node, app.js], port: 3000 }',
  /*  8 */ 'edge:',
  /*  9 */ '  vip: 127.0.0.1',
  /* 10 */ '  frontends:',
  /* 11 */ '    - { name: www, port: 8080, default_backend: app }',
  /* 12 */ '  backends:',
  /* 13 */ '    - name: app',
  /* 14 */ '      servers:',
  /* 15 */ '        - { node: web-1 }',
  /* 16 */ '        - { node: web-2 }',
];

function base(replace: Record<number, string> = {}, ...append: string[]): string[] {
  return [...BASE.map((line, i) => replace[i + 1] ?? line), ...append];
}

describe('the base file', () => {
  it('is valid (so every failure below is caused by the change)', () => {
    const spec = parseClusterText(base().join('\n'), FILE);
    assert.equal(spec.edge.backends[0]!.servers.length, 2);
  });
});

describe('syntax and shape', () => {
  it('reports YAML syntax errors as BWK_CONFIG_SYNTAX with the position', () => {
    const err = failure('cluster: t\nnodes: [\n');
    assert.equal(err.code, 'BWK_CONFIG_SYNTAX');
    assert.equal(err.message, `${FILE}:3:1: not valid YAML`);
    assert.equal(err.details.length, 1);
    assert.match(err.details[0]!, /^c\.yaml:3:1: Flow sequence/);
  });

  it('reports duplicate keys as syntax errors', () => {
    const err = failure('cluster: a\ncluster: b\n');
    assert.equal(err.code, 'BWK_CONFIG_SYNTAX');
    assert.deepEqual(err.details, ['c.yaml:2:1: Map keys must be unique']);
  });

  it('reports an alias without an anchor', () => {
    const err = failure('cluster: t\nnodes: *nodes\n');
    assert.equal(err.code, 'BWK_CONFIG_SYNTAX');
    assert.deepEqual(err.details, ['c.yaml:2:8: alias *nodes has no matching anchor']);
  });

  it('follows aliases to their anchors', () => {
    const text = base({ 7: '  app: { command: [node, app.js], port: &port 3000 }', 16: '        - { node: web-2, port: *port }' });
    assert.equal(parseClusterText(text.join('\n'), FILE).edge.backends[0]!.servers[1]!.port, 3000);
  });

  it('rejects an empty file and a top level that is not a mapping', () => {
    assert.deepEqual(problems(''), ['1:1: the file is empty; it needs at least "cluster" and "nodes"']);
    assert.deepEqual(problems('# just a comment', '- a'), [
      '2:1: expected a mapping of keys (cluster, nodes, …) at the top level, got a list',
    ]);
  });
});

describe('unknown keys', () => {
  it('names the key, its position and a likely intended key', () => {
    assert.deepEqual(problems(...base({}, '      helth_check: { interval: 1s }')), [
      '17:7: edge.backends[0].helth_check: unknown key "helth_check" (did you mean "health_check"?)',
    ]);
  });

  it('suggests the snake_case spelling of a camelCase key', () => {
    assert.deepEqual(problems(...base({ 3: '  - { name: lb-1, role: lb, address: 127.0.1.1, agentPort: 7701 }' })), [
      '3:49: nodes[0].agentPort: unknown key "agentPort" (did you mean "agent_port"?)',
    ]);
  });

  it('lists the allowed keys when nothing is close', () => {
    assert.deepEqual(problems(...base({}, 'colour: blue')), [
      '17:1: colour: unknown key "colour" (allowed here: cluster, state_dir, agent, log, nodes, web, edge, firewall, database, monitor)',
    ]);
  });

  it('says that YAML merge keys are not supported', () => {
    assert.deepEqual(problems(...base({}, '      <<: { pool_size: 1 }')), [
      '17:7: edge.backends[0]["<<"]: YAML merge keys (<<) are not supported; repeat the keys or use an alias for the whole value',
    ]);
  });

  it('keeps free-form env keys as written', () => {
    const text = base({ 7: '  app: { command: [node, app.js], port: 3000, env: { myKey: 1, MY_FLAG: true, URL: "x:y" } }' });
    assert.deepEqual(parseClusterText(text.join('\n'), FILE).web.app.env, { myKey: '1', MY_FLAG: 'true', URL: 'x:y' });
  });
});

describe('bad values', () => {
  it('rejects durations without a unit or with a made-up one', () => {
    assert.deepEqual(problems(...base({}, '      health_check: { interval: fast, timeout: 500 }')), [
      '17:23: edge.backends[0].health_check.interval: expected a duration like 500ms or 2s, got "fast"',
      '17:39: edge.backends[0].health_check.timeout: expected a duration with a unit like 500ms or 2s (a bare number has no unit), got 500',
    ]);
  });

  it('rejects bad sizes, strings for numbers and yes for true', () => {
    const fe = '    - { name: www, port: "8080", default_backend: app, access_log: yes, limits: { max_body_bytes: lots } }';
    assert.deepEqual(problems(...base({ 11: fe })), [
      '11:20: edge.frontends[0].port: expected a port number 1–65535, got "8080"',
      '11:56: edge.frontends[0].access_log: expected true or false, got "yes"',
      '11:83: edge.frontends[0].limits.max_body_bytes: expected a size like 16KiB or 1MiB, got "lots"',
    ]);
  });

  it('checks names, roles, addresses and ports of nodes, and collects every problem', () => {
    assert.deepEqual(problems(...base({ 3: '  - { name: LB_1, role: lbb, address: 127.0.1.256, agent_port: 0 }' })), [
      '3:7: nodes[0].name: expected lowercase letters, digits and dashes (like web-1), got "LB_1"',
      '3:19: nodes[0].role: expected one of lb, web, db, monitor, got "lbb" (did you mean "lb"?)',
      '3:30: nodes[0].address: expected an IPv4 or IPv6 address like 127.0.1.11 or ::1, got "127.0.1.256"',
      '3:52: nodes[0].agent_port: expected a port number 1–65535, got 0',
    ]);
  });

  it('checks path prefixes and host patterns', () => {
    const routes = [
      '    - name: www',
      '      port: 8080',
      '      routes:',
      '        - { host: "*.example.com", path_prefix: /api, backend: app }',
      '        - { host: "*example.com", backend: app }',
      '        - { host: "example.com:80", path_prefix: api, backend: app }',
    ];
    assert.deepEqual(problems(...base({ 11: routes.join('\n') })), [
      '15:13: edge.frontends[0].routes[1].host: expected a host like example.com or *.example.com (no port, no scheme), got "*example.com"',
      '16:13: edge.frontends[0].routes[2].host: expected a host like example.com or *.example.com (no port, no scheme), got "example.com:80"',
      '16:37: edge.frontends[0].routes[2].path_prefix: expected a path starting with "/" (like /api), got "api"',
    ]);
  });

  it('checks rise and fall', () => {
    assert.deepEqual(problems(...base({}, '      health_check: { rise: 0, fall: 1.5 }')), [
      '17:23: edge.backends[0].health_check.rise: must be at least 1, got 0',
      '17:32: edge.backends[0].health_check.fall: expected an integer, got 1.5',
    ]);
  });

  it('checks expect_status as one status or a list', () => {
    const one = parseClusterText(base({}, '      health_check: { expect_status: 204 }').join('\n'), FILE);
    assert.deepEqual(one.edge.backends[0]!.healthCheck.expectStatus, [204]);
    assert.deepEqual(problems(...base({}, '      health_check: { expect_status: [200, 700] }')), [
      '17:44: edge.backends[0].health_check.expect_status[1]: must be between 100 and 599, got 700',
    ]);
  });

  it('checks the app command', () => {
    assert.deepEqual(problems(...base({ 7: '  app: { command: [node, 3], port: 3000 }' })), [
      '7:26: web.app.command[1]: expected a string, got 3',
    ]);
    assert.deepEqual(problems(...base({ 7: '  app: { command: "  ", port: 3000 }' })), ['7:10: web.app.command: must not be empty']);
  });
});

describe('missing required keys', () => {
  it('points at the parent mapping', () => {
    assert.deepEqual(problems(...base({ 4: '  - { name: web-1, role: web }' })), [
      '4:5: nodes[1].address: required key is missing',
    ]);
    assert.deepEqual(problems(...base({ 9: '  # vip forgotten' })), ['10:3: edge.vip: required key is missing']);
  });

  it('requires edge when a node has role lb and web when a node has role web', () => {
    assert.deepEqual(problems(
      '# no edge, no web',
      'cluster: t',
      'nodes:',
      '  - { name: lb-1, role: lb, address: 127.0.1.1 }',
      '  - { name: lb-2, role: lb, address: 127.0.1.2 }',
      '  - { name: web-1, role: web, address: 127.0.1.11 }',
    ), [
      '2:1: edge: required key is missing (nodes lb-1, lb-2 have role lb)',
      '2:1: web: required key is missing (node web-1 has role web)',
    ]);
  });

  it('requires node or address on a server, not both', () => {
    assert.deepEqual(problems(...base({ 16: '        - { backup: true }' }, '        - { node: web-2, address: "10.0.0.1:80" }')), [
      '16:11: edge.backends[0].servers[1]: a server needs either node (a web node of this cluster) or address (host:port)',
      '17:26: edge.backends[0].servers[2].address: give either node (a web node of this cluster) or address (host:port), not both',
    ]);
  });
});

describe('cross-checks', () => {
  it('rejects duplicate node names and addresses, but allows a shared address on another agent port', () => {
    assert.deepEqual(problems(...base({ 5: '  - { name: web-1, role: web, address: 127.0.1.11 }' })), [
      '5:7: nodes[2].name: "web-1" is already the name of nodes[1] (line 4)',
      '5:31: nodes[2].address: 127.0.1.11 with agent port 7700 is already used by nodes[1] (line 4); give each node its own address (or agent_port)',
      '16:13: edge.backends[0].servers[1].node: unknown node "web-2" (did you mean "web-1"?); web nodes: web-1',
    ]);
    const shared = parseClusterText(base({ 5: '  - { name: web-2, role: web, address: 127.0.1.11, agent_port: 7701 }' }).join('\n'), FILE);
    assert.equal(shared.nodes[2]!.agentPort, 7701);
  });

  it('rejects equal lb priorities and a priority on a node that is not an lb', () => {
    assert.deepEqual(problems(...base({
      3: '  - { name: lb-1, role: lb, address: 127.0.1.1, priority: 99 }',
      4: '  - { name: lb-2, role: lb, address: 127.0.1.2 }',
      5: '  - { name: web-2, role: web, address: 127.0.1.12, priority: 5 }',
      15: '        - { node: web-2 }',
    })), [
      '4:5: nodes[1].priority: priority 99 (the default: 100 minus the position among lb nodes) is also the priority of nodes[0] (line 3); lb priorities must differ',
      '5:52: nodes[2].priority: only lb nodes have a priority (this node\'s role is web)',
      '16:13: edge.backends[0].servers[1].node: server "web-2" is already in this backend at edge.backends[0].servers[0] (line 15)',
    ]);
  });

  it('checks frontends: names, ports, routes, references and tcp rules', () => {
    assert.deepEqual(problems(
      /*  1 */ 'cluster: t',
      /*  2 */ 'nodes:',
      /*  3 */ '  - { name: lb-1, role: lb, address: 127.0.1.1 }',
      /*  4 */ '  - { name: web-1, role: web, address: 127.0.1.11 }',
      /*  5 */ 'web:',
      /*  6 */ '  app: { command: node app.js, port: 3000 }',
      /*  7 */ 'edge:',
      /*  8 */ '  vip: 127.0.0.1',
      /*  9 */ '  frontends:',
      /* 10 */ '    - name: www',
      /* 11 */ '      port: 8080',
      /* 12 */ '      routes:',
      /* 13 */ '        - { path_prefix: /, backend: ap }',
      /* 14 */ '    - name: www',
      /* 15 */ '      mode: tcp',
      /* 16 */ '      port: 8080',
      /* 17 */ '      routes: [{ backend: app }]',
      /* 18 */ '    - { name: admin, port: 7700, default_backend: app }',
      /* 19 */ '    - { name: empty, port: 8081 }',
      /* 20 */ '  backends:',
      /* 21 */ '    - name: app',
      /* 22 */ '      servers: [{ node: web-1 }]',
    ), [
      '13:29: edge.frontends[0].routes[0].backend: unknown backend "ap" (did you mean "app"?); backends: app',
      '14:7: edge.frontends[1].name: "www" is already the name of edge.frontends[0] (line 10)',
      '14:7: edge.frontends[1].default_backend: required key is missing (a tcp frontend sends every connection to its default_backend)',
      '16:7: edge.frontends[1].port: port 8080 is already used by edge.frontends[0].port (line 11)',
      '17:7: edge.frontends[1].routes: a tcp frontend cannot have routes (it does not read HTTP); use default_backend',
      '18:22: edge.frontends[2].port: port 7700 is also the agent port of lb node lb-1 (frontends listen on each lb node\'s address too)',
      '19:7: edge.frontends[3].routes: an http frontend needs routes, a default_backend, or both',
      '21:7: edge.backends[0].name: used by tcp frontend www, http frontend admin; a backend has one mode, so give each mode its own backend',
    ]);
  });

  it('checks backends: names, mode, servers, node references and backups', () => {
    assert.deepEqual(problems(
      /*  1 */ 'cluster: t',
      /*  2 */ 'nodes:',
      /*  3 */ '  - { name: lb-1, role: lb, address: 127.0.1.1 }',
      /*  4 */ '  - { name: web-1, role: web, address: 127.0.1.11 }',
      /*  5 */ '  - { name: db-1, role: db, address: 127.0.1.21 }',
      /*  6 */ 'web:',
      /*  7 */ '  app: { command: [node, app.js], port: 3000 }',
      /*  8 */ 'edge:',
      /*  9 */ '  vip: 127.0.0.1',
      /* 10 */ '  frontends:',
      /* 11 */ '    - { name: www, port: 8080, default_backend: app }',
      /* 12 */ '  backends:',
      /* 13 */ '    - name: app',
      /* 14 */ '      mode: tcp',
      /* 15 */ '      servers:',
      /* 16 */ '        - { node: web-1, backup: true }',
      /* 17 */ '        - { node: web-1, backup: true }',
      /* 18 */ '        - { node: db-1, backup: true }',
      /* 19 */ '        - { node: web-7, backup: true }',
      /* 20 */ '        - { name: x, address: "[::1]:3000", port: 3, backup: true }',
      /* 21 */ '    - name: app',
      /* 22 */ '      servers: [{ name: y, address: "::1:80" }]',
    ), [
      '14:7: edge.backends[0].mode: tcp does not match the http frontend www that uses this backend',
      '15:7: edge.backends[0].servers: needs at least one server that is not a backup (backups take traffic only when every other server is down)',
      '17:13: edge.backends[0].servers[1].node: server "web-1" is already in this backend at edge.backends[0].servers[0] (line 16)',
      '18:13: edge.backends[0].servers[2].node: node db-1 has role db, but a server must be a web node (use address: host:port for anything else)',
      '19:13: edge.backends[0].servers[3].node: unknown node "web-7" (did you mean "web-1"?); web nodes: web-1',
      '20:45: edge.backends[0].servers[4].port: not allowed with address: the port is part of address (host:port)',
      '21:7: edge.backends[1].name: "app" is already the name of edge.backends[0] (line 13)',
      '22:28: edge.backends[1].servers[0].address: expected host:port like 10.0.0.5:3000 or [::1]:3000, got "::1:80"',
    ]);
  });

  it('checks orderings of durations, naming defaults that take part', () => {
    assert.deepEqual(problems(...base(
      { 7: '  app: { command: [node, app.js], port: 3000, restart_backoff: { initial: 1m } }' },
      '      health_check: { interval: 500ms }',
      '      passive_health: { max_eject: 5s }',
    )), [
      '7:66: web.app.restart_backoff.initial: initial (1m) must be at most max (30s, the default)',
      '17:23: edge.backends[0].health_check.interval: timeout (1s, the default) must be shorter than interval (500ms)',
      '18:25: edge.backends[0].passive_health.max_eject: eject (10s, the default) must be at most max_eject (5s)',
    ]);
    assert.deepEqual(problems(...base({}, '      health_check: { interval: 1s, timeout: 1s }')), [
      '17:37: edge.backends[0].health_check.timeout: timeout (1s) must be shorter than interval (1s)',
    ]);
  });

  it('checks balance settings against the mode', () => {
    assert.deepEqual(problems(...base({}, '      balance: { policy: hash, hash_on: cookie }')), [
      '17:7: edge.backends[0].balance.hash_key: required key is missing (hash_on is cookie: name the cookie to hash)',
    ]);
    assert.deepEqual(problems(...base({ 11: '    - { name: db, mode: tcp, port: 5432, default_backend: app }' }, '      balance: { policy: sticky }')), [
      '17:18: edge.backends[0].balance.policy: sticky needs an http backend (this backend is tcp and cannot read headers or cookies)',
    ]);
  });

  it('rejects a VIP that is also a node address', () => {
    assert.deepEqual(problems(...base({ 9: '  vip: 127.0.1.1' })), [
      '9:3: edge.vip: 127.0.1.1 is also the address of node lb-1; the VIP needs an address of its own',
    ]);
  });

  it('does not pile follow-on errors on a value that is already wrong', () => {
    // The second node's name is invalid, so "unknown node" for the server would only be noise.
    assert.deepEqual(problems(...base({ 5: '  - { name: Web-2, role: web, address: 127.0.1.12 }' })), [
      '5:7: nodes[2].name: expected lowercase letters, digits and dashes (like web-1), got "Web-2"',
    ]);
    // A backend whose name cannot be read silences "unknown backend" for references.
    assert.deepEqual(problems(...base({ 13: '    - name: "app!"' })), [
      '13:7: edge.backends[0].name: expected a name of letters, digits, ".", "_" or "-" (like app), got "app!"',
    ]);
  });
});

describe('edge.tls.acme', () => {
  const acme = (...lines: string[]): string[] => base({ 11: '    - { name: www, port: 8080, https_port: 8443, default_backend: app }' }, '  tls:', ...lines);

  it('reads the directory, names and files, with Let\'s Encrypt and two thirds as defaults', () => {
    const spec = parseClusterText(acme('    source: acme', '    acme: { email: ops@example.com, names: [www.Example.com, 192.0.2.7], ca_file: ca.pem }').join('\n'), '/etc/bulwark/c.yaml');
    assert.deepEqual(spec.edge.tls?.acme, {
      directory: 'https://acme-v02.api.letsencrypt.org/directory', email: 'ops@example.com', names: ['www.example.com', '192.0.2.7'],
      renewAt: 2 / 3, caFile: '/etc/bulwark/ca.pem',
    });
  });

  it('names every bad value where it is written', () => {
    assert.deepEqual(problems(...acme(
      '    source: acme',
      '    acme:',
      '      directory: http://acme.test/dir',
      '      email: ops',
      '      names: ["*.example.com", "bad name", www.example.com]',
      '      renew_at: 1.5',
      '      renw_at: 0.5',
    )), [
      '20:7: edge.tls.acme.directory: expected an https:// URL of an ACME directory (like https://acme-v02.api.letsencrypt.org/directory), got "http://acme.test/dir"',
      '21:7: edge.tls.acme.email: expected an email address like ops@example.com, got "ops"',
      '22:15: edge.tls.acme.names[0]: "*.example.com" is a wildcard: HTTP-01 (the challenge the edge answers) cannot prove one; list each name',
      '22:32: edge.tls.acme.names[1]: expected a DNS name like www.example.com or an IP address, got "bad name"',
      '23:7: edge.tls.acme.renew_at: must be a fraction of the certificate\'s lifetime between 0 and 1 (like 0.66), got 1.5',
      '24:7: edge.tls.acme.renw_at: unknown key "renw_at" (did you mean "renew_at"?)',
    ]);
  });

  it('requires acme with source: acme, and email and names in it', () => {
    assert.deepEqual(problems(...acme('    source: acme')), [
      '18:5: edge.tls.acme: required key is missing (source: acme needs at least acme.email and acme.names)',
    ]);
    assert.deepEqual(problems(...acme('    source: acme', '    acme: { directory: "https://acme.test/dir" }')), [
      '19:11: edge.tls.acme.email: required key is missing',
      '19:11: edge.tls.acme.names: required key is missing',
    ]);
    assert.deepEqual(problems(...acme('    source: acme', '    acme: { email: a@b.test, names: [] }')), ['19:30: edge.tls.acme.names: must list at least one name']);
  });

  it('refuses acme settings under another source, and local/files keys under acme', () => {
    assert.deepEqual(problems(...acme('    source: local', '    acme: { email: a@b.test, names: [a.test] }')), ['19:5: edge.tls.acme: is for source: acme (source is local)']);
    assert.deepEqual(problems(...acme('    source: acme', '    names: [a.test]', '    acme: { email: a@b.test, names: [a.test] }')), [
      '19:5: edge.tls.names: is for source: local; with acme, list the names under acme.names',
    ]);
  });
});
