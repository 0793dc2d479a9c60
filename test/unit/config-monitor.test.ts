/** The `monitor` section: defaults, rule expressions checked at their line, receivers, unknown keys. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BulwarkError } from '../../src/core/errors.js';
import { parseClusterText } from '../../src/config/index.js';

const FILE = 'c.yaml';
const BASE = [
  'cluster: t',
  'nodes:',
  '  - { name: web-1, role: web, address: 127.0.1.11 }',
  '  - { name: mon-1, role: monitor, address: 127.0.1.31 }',
  'web:',
  '  app: { command: [node, app.js], port: 3000 }',
];

function problems(...monitor: string[]): string[] {
  try {
    parseClusterText([...BASE, 'monitor:', ...monitor].join('\n'), FILE);
  } catch (err) {
    assert.ok(err instanceof BulwarkError);
    return err.details.map((d) => d.slice(FILE.length + 1));
  }
  assert.fail('expected the file to be rejected');
}

describe('monitor config', () => {
  it('has defaults when the section is absent', () => {
    const spec = parseClusterText(BASE.join('\n'), FILE);
    assert.deepEqual(spec.monitor, {
      port: 9443, scrapeIntervalMs: 5000, scrapeTimeoutMs: 4000, retention: { ageMs: 86_400_000, sizeBytes: 256 * 1024 * 1024 }, rules: [], receivers: [],
    });
  });

  it('fills receiver defaults', () => {
    const spec = parseClusterText([...BASE, 'monitor:', '  receivers: [{ name: ops, url: "http://127.0.0.1:9/hook" }]'].join('\n'), FILE);
    assert.deepEqual(spec.monitor.receivers[0], {
      name: 'ops', url: 'http://127.0.0.1:9/hook', match: {}, groupBy: ['alertname'], groupWaitMs: 5000, groupIntervalMs: 60_000,
      repeatIntervalMs: 4 * 3_600_000, sendResolved: true, timeoutMs: 5000, retries: 5,
    });
  });

  it('reports a rule expression error at its line with the column in the expression', () => {
    assert.deepEqual(problems('  rules:', '    - name: Broken', '      expr: rate(bulwark_http_requests_total) > 1'), [
      '10:7: monitor.rules[0].expr: at column 1: rate() needs a range vector like metric[5m]',
    ]);
    assert.deepEqual(problems('  rules:', '    - { name: Typo, expr: "sum by (frontend (x)" }'), [
      '9:21: monitor.rules[0].expr: at column 18: expected , or ), got "("',
    ]);
    assert.deepEqual(problems('  rules:', '    - { name: Sub, expr: "max_over_time(x[5m:1m])" }'), [
      '9:20: monitor.rules[0].expr: at column 16: "5m:1m" is not a range like 5m or 30s (subqueries are not supported)',
    ]);
  });

  it('needs an expr for a new rule but not to tune a built-in one', () => {
    assert.deepEqual(problems('  rules:', '    - { name: MyAlert, for: 1m }'), ['9:7: monitor.rules[0].expr: required key is missing']);
    const spec = parseClusterText([...BASE, 'monitor:', '  rules: [{ name: NodeDown, for: 0s, severity: warning }]'].join('\n'), FILE);
    assert.deepEqual(spec.monitor.rules[0], { name: 'NodeDown', forMs: 0, severity: 'warning', labels: {}, annotations: {}, enabled: true });
  });

  it('rejects duplicate rules, bad names, severities, label names and unknown keys', () => {
    assert.deepEqual(problems(
      '  rules:',
      '    - { name: A, expr: "up == 0" }',
      '    - { name: A, expr: "up == 0", severity: page }',
      '    - { name: "b-c", expr: "up == 0", labels: { "bad-label": x } }',
      '    - { name: D, expr: "up == 0", fore: 1m }',
    ), [
      '10:9: monitor.rules[1].name: rule A is already defined at monitor.rules[0]; tune a rule in one place',
      '10:35: monitor.rules[1].severity: expected one of critical, warning, info, got "page"',
      '11:9: monitor.rules[2].name: expected an alert name of letters, digits and _ (like HighErrorRate), got "b-c"',
      '11:49: monitor.rules[2].labels.bad-label: "bad-label" is not a valid label name (letters, digits and _, not starting with a digit)',
      '12:35: monitor.rules[3].fore: unknown key "fore" (did you mean "for"?)',
    ]);
  });

  it('checks receivers and scrape settings', () => {
    assert.deepEqual(problems(
      '  scrape_interval: 1s',
      '  scrape_timeout: 2s',
      '  retention: { age: 1d, size: lots }',
      '  receivers:',
      '    - { name: ops, url: "ftp://x/hook", group_by: [alertname, "node name"], retries: 99 }',
      '    - { name: ops, url: "http://x/hook", group_wait: 10 }',
    ), [
      '9:3: monitor.scrape_timeout: must be at most scrape_interval (1000ms)',
      '10:25: monitor.retention.size: expected a size like 16KiB or 1MiB, got "lots"',
      '12:20: monitor.receivers[0].url: expected an http:// or https:// URL of a webhook, got "ftp://x/hook"',
      '12:63: monitor.receivers[0].group_by[1]: expected a label name (or ... for every label), got "node name"',
      '12:77: monitor.receivers[0].retries: must be between 0 and 20, got 99',
      '13:9: monitor.receivers[1].name: receiver ops is defined twice',
      '13:42: monitor.receivers[1].group_wait: expected a duration with a unit like 500ms or 2s (a bare number has no unit), got 10',
    ]);
  });
});
