/**
 * The monitor's own metrics as its node serves them: webhook deliveries are a counter named with
 * `_total` (rate() and increase() apply), both outcomes present from the start.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { parseClusterText } from '../../src/config/index.js';
import { ManualClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/log.js';
import { AgentClient } from '../../src/control-plane/agent-api/index.js';
import { MonitorRole } from '../../src/node/roles/monitor-role.js';
import { parseTextFormat } from '../../src/observability/scrape/text-format.js';
import { TestPki } from '../harness/agent-tls.js';
import { stackYaml } from '../harness/stack-yaml.js';

describe('monitor node metrics', () => {
  it('count webhook deliveries in bulwark_monitor_notifications_total{outcome}', async () => {
    const spec = parseClusterText(stackYaml({
      cluster: 'mon-metrics', net: '127.0.9', agentPort: 7700, appPort: 3000, edgePort: 8080, pgPort: 5432, routerPorts: [6432, 6433],
    }), 'mon.yaml');
    const node = spec.nodes.find((n) => n.role === 'monitor')!;
    const pki = new TestPki();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bwk-monrole-'));
    try {
      const credentials = await pki.node(node.name, 'monitor', node.address);
      const registry = new Registry();
      // Built, not started: the metrics are registered by the constructor.
      new MonitorRole({ spec, node, clock: new ManualClock(0), log: silentLogger(), registry, dir, credentials, agents: new AgentClient(credentials) });
      const text = await registry.metrics();
      assert.match(text, /# TYPE bulwark_monitor_notifications_total counter/);
      assert.doesNotMatch(text, /bulwark_monitor_notifications[{ ]/, 'the old gauge name is gone');
      const samples = parseTextFormat(text).samples.filter((s) => s.name === 'bulwark_monitor_notifications_total');
      assert.deepEqual(samples.map((s) => [s.labels['outcome'], s.value]).sort(), [['failed', 0], ['ok', 0]]);
    } finally {
      pki.remove();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
