/**
 * `bulwark monitor export`'s Grafana dashboard: every panel's query is valid PromQL (the project's
 * parser, and the real promtool on the same expressions written as recording rules), and the
 * panels cover the charts issue 7 asks for. And the exported alert rules (built-ins included)
 * are accepted by promtool.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { stringify } from 'yaml';
import { parseClusterText } from '../../src/config/index.js';
import { grafanaDashboard, ruleFile } from '../../src/observability/export/prometheus.js';
import { parseExpr } from '../../src/observability/promql/parse.js';
import { stackYaml } from '../harness/stack-yaml.js';
import { missing, skipUnlessCi } from '../harness/requirements.js';

const spec = parseClusterText(stackYaml({
  cluster: 'export', net: '127.0.9', agentPort: 7700, appPort: 3000, edgePort: 8080, pgPort: 5432, routerPorts: [6432, 6433],
}), 'export.yaml');

interface Panel { id: number; title: string; type: string; targets: { refId: string; expr: string; legendFormat: string }[] }
const dashboard = JSON.parse(grafanaDashboard(spec)) as { panels: Panel[]; uid: string; title: string };
const targets = dashboard.panels.flatMap((p) => p.targets.map((t) => ({ panel: p.title, ...t })));

/** Grafana's own variable, replaced as Grafana does before it sends the query. */
const asPromQl = (expr: string): string => expr.replaceAll('$__rate_interval', '1m');

const promtoolSkip = skipUnlessCi(missing({ tools: ['promtool'], why: 'checking exported expressions with promtool' }), 'monitor export with promtool');

function promtool(file: string): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => execFile('promtool', ['check', 'rules', file], { timeout: 30_000 }, (err, stdout, stderr) =>
    resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, out: stdout + stderr })));
}

describe('the exported Grafana dashboard', () => {
  it('has panels with unique ids, each with at least one query', () => {
    assert.ok(dashboard.panels.length >= 6);
    assert.equal(new Set(dashboard.panels.map((p) => p.id)).size, dashboard.panels.length);
    for (const p of dashboard.panels) assert.ok(p.targets.length > 0 && p.targets.every((t) => t.expr.trim() !== ''), p.title);
  });

  it('every query parses with the project\'s PromQL parser and selects this cluster', () => {
    let selectors = 0;
    for (const t of targets) {
      assert.doesNotThrow(() => parseExpr(asPromQl(t.expr)), `${t.panel} ${t.refId}: ${t.expr}`);
      // A dashboard imported next to other clusters must show this one only.
      for (const m of t.expr.matchAll(/\b(bulwark_[a-z_]+|up)\{([^}]*)\}/g)) {
        assert.match(m[2]!, /cluster="export"/, `${t.panel}: ${m[0]}`);
        selectors++;
      }
    }
    assert.ok(selectors >= targets.length, `${selectors} selectors in ${targets.length} queries`);
  });

  it('covers the charts the issue lists: requests/s, error ratio, p50/p99 latency, replication lag, connections', () => {
    const panel = (title: RegExp): Panel => {
      const p = dashboard.panels.find((x) => title.test(x.title));
      assert.ok(p, `a panel titled ${title}; have ${dashboard.panels.map((x) => x.title).join(', ')}`);
      return p;
    };
    const exprs = (p: Panel): string => p.targets.map((t) => t.expr).join('\n');
    assert.match(exprs(panel(/^requests per second$/i)), /rate\(bulwark_http_requests_total\{/);
    assert.match(exprs(panel(/error ratio/i)), /code="5xx".*\/.*bulwark_http_requests_total/s);
    const latency = panel(/latency p50 \/ p99/i);
    assert.deepEqual(latency.targets.map((t) => /histogram_quantile\((0\.\d+),/.exec(t.expr)?.[1]), ['0.5', '0.99']);
    assert.match(exprs(panel(/^replication lag$/i)), /bulwark_pg_replication_lag_bytes/);
    assert.match(exprs(panel(/replication lag \(seconds\)/i)), /bulwark_pg_replication_lag_seconds/);
    const conns = exprs(panel(/^connections$/i));
    assert.match(conns, /bulwark_frontend_connections_active/);
    assert.match(conns, /bulwark_pg_connections/);
    assert.match(exprs(panel(/nodes up/i)), /up\{job="bulwark"/);
  });

  it('every query is accepted by promtool (as recording rules)', { skip: promtoolSkip }, async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bwk-grafana-'));
    try {
      const file = path.join(dir, 'panels.yml');
      const rules = targets.map((t, i) => ({ record: `bulwark_export_check:panel_${i}`, expr: asPromQl(t.expr) }));
      fs.writeFileSync(file, stringify({ groups: [{ name: 'grafana-panels', rules }] }, { lineWidth: 0 }));
      const r = await promtool(file);
      assert.equal(r.code, 0, r.out);
      assert.match(r.out, new RegExp(`SUCCESS: ${rules.length} rules found`));
      // The check can fail: a query Grafana would reject is caught.
      fs.writeFileSync(file, stringify({ groups: [{ name: 'bad', rules: [{ record: 'x:y', expr: 'sum by (frontend (rate(x[1m]))' }] }] }));
      assert.notEqual((await promtool(file)).code, 0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the exported alert rules', () => {
  it('include every built-in, NodeUnhealthy among them, and promtool accepts them', { skip: promtoolSkip }, async () => {
    const text = ruleFile(spec);
    assert.match(text, /alert: NodeUnhealthy\n\s+expr: bulwark_node_healthy == 0\n\s+for: 30s/);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bwk-rules-'));
    try {
      const file = path.join(dir, 'bulwark-rules.yml');
      fs.writeFileSync(file, text);
      const r = await promtool(file);
      assert.equal(r.code, 0, r.out);
      assert.match(r.out, /SUCCESS: 13 rules found/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
