/**
 * The monitor's dashboard in real Chromium (Debian's, driven by playwright-core) against a real
 * cluster started with `bulwark up --detach`: HTTPS verified by the browser against the cluster
 * CA (names included), the topology with the VIP holder and the primary marked, charts with
 * data, first render (topology and first chart with data) under a second, the replica's lag on
 * its card, a phone screen without horizontal scrolling, and live updates without a reload: a
 * killed web node (down, and NodeDown among the open alerts), a failover after killing the
 * primary, a switchover on the timeline after `bulwark switchover`, and the stream coming back
 * after the monitor restarts. Screenshots go to test-artifacts/dashboard/.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { caCertPath, caDirOf } from '../../src/control-plane/certs/index.js';
import { browserMissing, launchTrusting, type TrustingBrowser } from '../harness/browser.js';
import { bulwark, REPO, tempCluster } from '../harness/cli.js';
import { stackYaml } from '../harness/stack-yaml.js';
import { eventually } from '../harness/eventually.js';
import { skipUnlessCi } from '../harness/requirements.js';

const NET = '127.0.10';
const AGENT = 17810;
const EDGE_PORT = 18110;
const MON_PORT = 19443;
const MON = `${NET}.31`;
const VIP = `${NET}.100`;
const ARTIFACTS = path.join(REPO, 'test-artifacts', 'dashboard');
const NODES = ['lb-1', 'lb-2', 'web-1', 'web-2', 'db-1', 'db-2', 'mon-1'];
const CHARTS = ['requests', 'errors', 'latency', 'lag', 'connections'];
const LOAD_BUDGET_MS = 1000;

const YAML = stackYaml({
  cluster: 'dash-test', net: NET, agentPort: AGENT, appPort: 13110, edgePort: EDGE_PORT, pgPort: 15450, routerPorts: [16450, 16451],
  extra: `monitor:
  port: ${MON_PORT}
  scrape_interval: 1s
  rules:
    - { name: NodeDown, for: 2s }
`,
});

interface StatusJson {
  edge: { active: string | null };
  database: { primary: string | null; members: { name: string; role: string; sync: boolean }[] };
  monitor?: { url?: string };
}

const skip = skipUnlessCi(browserMissing('the dashboard test'), 'dashboard in Chromium');

describe('the dashboard in real Chromium against a live cluster', { skip, timeout: 420_000 }, () => {
  const c = tempCluster(YAML);
  const stateDir = path.join(c.dir, 'state');
  let tb: TrustingBrowser;
  let url = '';
  let desktop: Page;
  let phone: Page | undefined;
  const contexts: BrowserContext[] = [];
  const traffic = new AbortController();
  let trafficDone: Promise<number> = Promise.resolve(0);

  const status = async (): Promise<StatusJson> => {
    const r = await bulwark(['status', '--json', '-c', c.file]);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as StatusJson;
  };

  /** A settled cluster: one VIP holder, one primary with a sync standby. */
  const settled = (): Promise<StatusJson> => eventually(async () => {
    const s = await status();
    assert.ok(s.edge.active, 'no lb holds the VIP');
    assert.ok(s.database.primary, 'no primary');
    assert.ok(s.database.members.some((m) => m.role === 'replica' && m.sync), 'no sync standby yet');
    return s;
  }, { timeoutMs: 90_000, intervalMs: 500, message: 'cluster settling' });

  const openPage = async (viewport: { width: number; height: number }, phoneLike: boolean): Promise<{ page: Page; loadMs: number; chartMs: Promise<number> }> => {
    const ctx = await tb.browser.newContext({
      viewport, isMobile: phoneLike, hasTouch: phoneLike, deviceScaleFactor: phoneLike ? 2 : 1, ignoreHTTPSErrors: false,
    });
    contexts.push(ctx);
    const page = await ctx.newPage();
    await page.addInitScript(markFirstChart);
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    // The dashboard's content security policy allows nothing inline: a violation is a bug.
    page.on('console', (m) => {
      if (m.type() === 'error' && /Content Security Policy/i.test(m.text())) errors.push(m.text());
    });
    await page.goto(url);
    await page.waitForSelector('html[data-ready="topology"]', { timeout: 10_000 });
    // From the start of navigation (the page's time origin) to the paint of the first topology.
    const loadMs = await page.evaluate(() => performance.getEntriesByName('bulwark:topology')[0]?.startTime ?? -1);
    assert.deepEqual(errors, [], 'the page threw');
    const chartMs = page.waitForFunction(() => performance.getEntriesByName('test:first-chart')[0]?.startTime ?? false, undefined, { timeout: 10_000 })
      .then((h) => h.jsonValue() as Promise<number>);
    chartMs.catch(() => undefined); // awaited by the tests that want it; a closed page must not be an unhandled rejection
    return { page, loadMs, chartMs };
  };

  const shot = (page: Page, name: string): Promise<Buffer> => page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });

  before(async () => {
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    const up = await bulwark(['up', '--detach', '-c', c.file, '--timeout', '120s'], { timeoutMs: 150_000 });
    assert.equal(up.code, 0, `up failed:\n${up.stdout}\n${up.stderr}`);
    const s = await settled();
    url = s.monitor?.url ?? `https://${MON}:${MON_PORT}/`;
    const ca = fs.readFileSync(caCertPath(caDirOf({ stateDir })), 'utf8');
    // not-the-monitor.test resolves to the monitor's address: its certificate must not pass for that name.
    tb = await launchTrusting(ca, { args: [`--host-resolver-rules=MAP not-the-monitor.test ${MON}`] });
    trafficDone = trickle(`http://${VIP}:${EDGE_PORT}/api/whoami`, traffic.signal);
  });

  after(async () => {
    traffic.abort();
    await trafficDone;
    for (const ctx of contexts) await ctx.close().catch(() => undefined);
    await tb?.close();
    await bulwark(['down', '-c', c.file]);
    c.cleanup();
  });

  it('is served over HTTPS with a certificate the browser verifies for the monitor\'s address', async (t) => {
    assert.match(url, /^https:\/\//);
    const ctx = await tb.browser.newContext();
    contexts.push(ctx);
    const page = await ctx.newPage();
    const res = await page.goto(url);
    assert.equal(res?.status(), 200);
    const security = await res!.securityDetails();
    t.diagnostic(`TLS: ${security?.protocol} issuer "${security?.issuer}" subject "${security?.subjectName}"`);
    await assert.rejects(page.goto(`https://not-the-monitor.test:${new URL(url).port}/`), /ERR_CERT_COMMON_NAME_INVALID/);
    await ctx.close();
  });

  it('paints the topology, and a chart with data, in under a second after navigation', async (t) => {
    await settled();
    // Three cold loads (a fresh browser context each: no cache, new TLS connections); the median
    // is held to the budget, so one scheduling hiccup of a busy machine does not decide it.
    const loads: number[] = [];
    const charts: number[] = [];
    for (let i = 0; i < 3; i++) {
      const opened = await openPage({ width: 1440, height: 1000 }, false);
      loads.push(Math.round(opened.loadMs));
      // The page is loaded when a visitor sees both: the topology and a chart drawing data.
      charts.push(Math.round(Math.max(opened.loadMs, await opened.chartMs)));
      await opened.page.context().close();
    }
    const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[1]!;
    t.diagnostic(`navigation → first topology paint: ${loads.join(', ')} ms (median ${median(loads)} ms); → topology and first chart with data: ${charts.join(', ')} ms (median ${median(charts)} ms); budget ${LOAD_BUDGET_MS} ms`);
    assert.ok(median(loads) < LOAD_BUDGET_MS, `first topology paint after ${loads.join(', ')} ms`);
    assert.ok(median(charts) < LOAD_BUDGET_MS, `topology and a chart with data after ${charts.join(', ')} ms`);
  });

  it('renders every node, and marks the VIP holder and the primary', async () => {
    const s = await settled();
    desktop = (await openPage({ width: 1440, height: 1000 }, false)).page;
    // Marks the page: if it reloads, the mark is gone (live updates must not need a reload).
    await desktop.evaluate(() => { (window as unknown as { bulwarkTestMark: number }).bulwarkTestMark = 42; });
    const shown = await desktop.$$eval('#tiers [data-node]', (els) => els.map((e) => (e as HTMLElement).dataset['node']));
    assert.deepEqual([...shown].sort(), [...NODES].sort());
    await eventually(async () => {
      assert.equal(await desktop.getAttribute(`[data-node="${s.edge.active}"]`, 'data-vip'), 'true', `${s.edge.active} not marked as the VIP holder`);
      assert.equal(await desktop.getAttribute(`[data-node="${s.database.primary}"]`, 'data-primary'), 'true', `${s.database.primary} not marked primary`);
      assert.equal(await desktop.locator('[data-vip]').count(), 1);
      assert.equal(await desktop.locator('[data-primary]').count(), 1);
      assert.equal(await desktop.locator('#tiers [data-status="up"]').count(), NODES.length);
    }, { timeoutMs: 15_000, intervalMs: 250 });
    assert.match(await desktop.textContent(`[data-node="${s.edge.active}"]`) ?? '', /VIP/);
    assert.match(await desktop.textContent(`[data-node="${s.database.primary}"]`) ?? '', /primary/);
    // The replica's card carries its lag (bytes, and seconds: 0 ms on an idle primary).
    const replica = s.database.members.find((m) => m.role === 'replica')!.name;
    await eventually(async () => {
      const facts = await desktop.textContent(`#tiers [data-node="${replica}"] .facts`, { timeout: 1000 }).catch(() => null);
      assert.match(facts ?? '', /\blag \d+(\.\d+)? (B|KiB|MiB|GiB)\b.*\d+(\.\d+)? (µs|ms|s)\b/, `${replica}'s card shows no lag: ${JSON.stringify(facts)}`);
    }, { timeoutMs: 15_000, intervalMs: 250 });
  });

  it('draws every chart with data', async () => {
    await eventually(async () => {
      for (const id of CHARTS) {
        const points = Number(await desktop.getAttribute(`#chart-${id}`, 'data-points'));
        assert.ok(points > 0, `chart ${id} has no data points`);
        assert.ok(await desktop.locator(`#chart-${id} svg path.line, #chart-${id} svg circle.dot`).count() > 0, `chart ${id} draws no line`);
      }
    }, { timeoutMs: 30_000, intervalMs: 500, message: 'charts with data' });
    await shot(desktop, 'desktop-before');
  });

  it('fits a phone screen (375×812) without horizontal scrolling', async (t) => {
    const opened = await openPage({ width: 375, height: 812 }, true);
    const page = opened.page;
    phone = page;
    t.diagnostic(`phone: first topology paint ${opened.loadMs.toFixed(0)} ms`);
    await eventually(async () => {
      for (const id of CHARTS) assert.ok(Number(await page.getAttribute(`#chart-${id}`, 'data-points')) > 0, `phone chart ${id}`);
    }, { timeoutMs: 20_000, intervalMs: 500 });
    const widths = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth, inner: window.innerWidth }));
    assert.ok(widths.scroll <= widths.client && widths.client <= 375, `horizontal scrolling: ${JSON.stringify(widths)}`);
    // Readable: no text below 11 px.
    const smallest = await page.evaluate(() => Math.min(...[...document.querySelectorAll('body *')]
      .filter((e) => e.childNodes.length && [...e.childNodes].some((n) => n.nodeType === 3 && n.textContent?.trim()))
      .map((e) => parseFloat(getComputedStyle(e).fontSize))));
    assert.ok(smallest >= 11, `text as small as ${smallest}px`);
    await shot(page, 'phone-before');
  });

  it('shows a killed web node as down, and on the timeline, without a reload', async () => {
    const killed = await bulwark(['kill', 'web-1', '-c', c.file]);
    assert.equal(killed.code, 0, killed.stderr);
    await desktop.waitForSelector('#tiers [data-node="web-1"][data-status="down"]', { timeout: 20_000 });
    await desktop.waitForSelector('#events li[data-node="web-1"]:is([data-kind="node_down"], [data-kind="server_down"], [data-kind="ejection"])', { timeout: 20_000 });
    // The open-alerts panel: NodeDown for web-1 firing (for: 2s here), critical.
    const alert = desktop.locator('#alerts-body li.alert[data-alert="NodeDown"][data-state="firing"]').filter({ hasText: 'node=web-1' });
    await alert.first().waitFor({ timeout: 20_000 });
    assert.equal(await alert.first().getAttribute('data-severity'), 'critical');
    assert.match(await desktop.textContent('#alerts-count') ?? '', /\(\d+\)/);
    await shot(desktop, 'desktop-web-down');
    assert.equal((await bulwark(['start', 'web-1', '-c', c.file])).code, 0);
    await desktop.waitForSelector('#tiers [data-node="web-1"][data-status="up"]', { timeout: 30_000 });
    assert.equal(await desktop.evaluate(() => (window as unknown as { bulwarkTestMark?: number }).bulwarkTestMark), 42, 'the page reloaded');
  });

  it('shows a failover on the timeline after the primary is killed, and marks the new primary', async (t) => {
    const before = await settled();
    const old = before.database.primary!;
    const next = old === 'db-1' ? 'db-2' : 'db-1';
    const killed = await bulwark(['kill', old, '-c', c.file]);
    assert.equal(killed.code, 0, killed.stderr);
    const t0 = Date.now();
    // The phone page too, unless its own test failed to open it.
    for (const page of [desktop, phone].filter((p): p is Page => p !== undefined)) {
      await page.waitForSelector('#events li[data-kind="failover"]', { timeout: 45_000 });
      await page.waitForSelector(`#tiers [data-node="${next}"][data-primary]`, { timeout: 45_000 });
      await page.waitForSelector(`#tiers [data-node="${old}"][data-status="down"]`, { timeout: 10_000 });
    }
    t.diagnostic(`failover of ${old} → ${next} on the page ${Date.now() - t0} ms after the kill`);
    assert.match(await desktop.textContent('#events li[data-kind="failover"]') ?? '', /failover/i);
    assert.equal(await desktop.locator('[data-primary]').count(), 1);
    await desktop.waitForTimeout(1500); // let the charts' next refresh show the gap, for the screenshots
    await shot(desktop, 'desktop-after-failover');
    if (phone) await shot(phone, 'phone-after-failover');
    assert.equal(await desktop.evaluate(() => (window as unknown as { bulwarkTestMark?: number }).bulwarkTestMark), 42, 'the page reloaded');
    assert.equal((await bulwark(['start', old, '-c', c.file])).code, 0);
  });

  it('shows a switchover on the timeline after `bulwark switchover`, and marks the new primary', async (t) => {
    const before = await settled();
    const old = before.database.primary!;
    const next = old === 'db-1' ? 'db-2' : 'db-1';
    const sw = await bulwark(['switchover', '--to', next, '-c', c.file], { timeoutMs: 60_000 });
    assert.equal(sw.code, 0, sw.stdout + sw.stderr);
    const t0 = Date.now();
    await desktop.waitForSelector(`#tiers [data-node="${next}"][data-primary]`, { timeout: 30_000 });
    // The planned change's entry: the newest primary change naming the new primary. A switchover,
    // not a failover (the old primary handed over and still answers).
    const entry = await eventually(async () => {
      const items = await desktop.$$eval('#events li[data-kind]', (els) => els.map((e) => ({
        kind: (e as HTMLElement).dataset['kind'], node: (e as HTMLElement).dataset['node'], text: e.textContent ?? '',
      })));
      const change = items.find((x) => (x.kind === 'switchover' || x.kind === 'failover') && x.node === next && x.text.includes(old));
      assert.ok(change, `no primary change ${old} → ${next} on the timeline yet: ${JSON.stringify(items.slice(0, 8))}`);
      return change;
    }, { timeoutMs: 30_000, intervalMs: 250 });
    t.diagnostic(`switchover ${old} → ${next} on the page ${Date.now() - t0} ms after the command returned: ${entry.kind}: ${entry.text}`);
    assert.equal(entry.kind, 'switchover', `the planned switchover is shown as "${entry.kind}": ${entry.text}`);
    assert.match(entry.text, /switchover/i);
    assert.equal(await desktop.locator('[data-primary]').count(), 1);
    assert.notEqual(await desktop.getAttribute(`#tiers [data-node="${old}"]`, 'data-status'), 'down', 'the old primary keeps answering through a switchover');
    await shot(desktop, 'desktop-after-switchover');
    assert.equal(await desktop.evaluate(() => (window as unknown as { bulwarkTestMark?: number }).bulwarkTestMark), 42, 'the page reloaded');
  });

  it('reconnects to the live stream when the monitor restarts', async () => {
    assert.equal((await bulwark(['kill', 'mon-1', '-c', c.file])).code, 0);
    await desktop.waitForSelector('#connection:is([data-state="reconnecting"], [data-state="stale"])', { timeout: 20_000 });
    await shot(desktop, 'desktop-monitor-down');
    const started = await bulwark(['start', 'mon-1', '-c', c.file]);
    // "Already running" is fine too: then something brought it back first; the page must follow.
    assert.ok(started.code === 0 || /already running/i.test(started.stderr), started.stdout + started.stderr);
    await desktop.waitForSelector('#connection[data-state="live"]', { timeout: 45_000 });
    // Live again means fresh overviews arrive: the glance shows the cluster, not a stale copy.
    const first = await desktop.textContent('#connection');
    await eventually(async () => assert.notEqual(await desktop.textContent('#connection'), first), { timeoutMs: 10_000 });
    assert.equal(await desktop.evaluate(() => (window as unknown as { bulwarkTestMark?: number }).bulwarkTestMark), 42, 'the page reloaded');
  });
});

/**
 * Runs in the page before its own scripts: marks `test:first-chart` once a chart has data points
 * and a drawn line, after the next paint (as the page marks its topology), so the load test can
 * time navigation → first chart with data from the same time origin.
 */
function markFirstChart(): void {
  const drawn = (): boolean => [...document.querySelectorAll('figure.chart[data-points]')]
    .some((f) => Number((f as HTMLElement).dataset['points']) > 0 && f.querySelector('svg path.line, svg circle.dot') !== null);
  const watch = new MutationObserver(() => {
    if (!drawn()) return;
    watch.disconnect();
    requestAnimationFrame(() => setTimeout(() => performance.mark('test:first-chart'), 0));
  });
  watch.observe(document, { subtree: true, childList: true, attributes: true, attributeFilter: ['data-points'] });
}

/** A light, paced client load through the edge (about 20 requests/s) so the charts have traffic. */
async function trickle(url: string, signal: AbortSignal): Promise<number> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 2 });
  const deadline = Date.now() + 400_000;
  let sent = 0;
  while (!signal.aborted && Date.now() < deadline && sent < 20_000) {
    sent++;
    await new Promise<void>((resolve) => {
      const req = http.get(url, { agent, timeout: 2000 }, (res) => { res.resume(); res.on('end', resolve); res.on('error', () => resolve()); });
      req.on('timeout', () => req.destroy());
      req.on('error', () => resolve());
    });
    await new Promise((r) => setTimeout(r, 50));
  }
  agent.destroy();
  return sent;
}
