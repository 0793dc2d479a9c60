// @ts-check
/**
 * The dashboard: first paint from GET /api/overview, then live from the SSE stream; charts are
 * re-fetched on a timer that follows the chosen range; the timeline merges the stream's events
 * with /api/events (re-fetched after a reconnect, so nothing that happened while the monitor
 * was away is missing).
 */
import { getJson, openStream } from './api.js';
import { LineChart } from './chart.js';
import { h } from './dom.js';
import { formatAgo, formatClock, formatRange } from './format.js';
import { eventKey, mergeEvents } from './model.js';
import { FILTERS, refreshAgo, renderAlerts, renderEvents, renderSummary } from './panels.js';
import { renderTopology } from './topology.js';

/** @typedef {import('./model.js').Overview} Overview */
/** @typedef {import('./model.js').ApiEvent} ApiEvent */
/** @typedef {import('./model.js').ApiSeries} ApiSeries */

const RANGES = [300, 900, 3600, 6 * 3600, 24 * 3600];
const MAX_EVENTS = 300;
/** Events shown at first (and added per "show older"): a phone page stays short. */
const EVENTS_PAGE = 25;
const CHARTS = [
  { id: 'requests', title: 'Requests/s', names: ['requests_per_second'] },
  { id: 'errors', title: 'Error ratio (5xx)', names: ['error_ratio'] },
  { id: 'latency', title: 'Latency p50 / p99', names: ['latency_p50', 'latency_p99'] },
  { id: 'lag', title: 'Replication lag', names: ['replication_lag_bytes'] },
  { id: 'connections', title: 'Connections', names: ['connections'] },
];

/** @param {string} id */
const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));

const stored = (/** @type {string} */ k, /** @type {string} */ fallback) => {
  try { return localStorage.getItem(`bulwark.${k}`) ?? fallback; } catch { return fallback; }
};
const store = (/** @type {string} */ k, /** @type {string} */ v) => {
  try { localStorage.setItem(`bulwark.${k}`, v); } catch { /* private mode: the choice just is not kept */ }
};

const state = {
  /** @type {Overview | null} */
  overview: null,
  lastOverviewAt: 0,
  /** @type {ApiEvent[]} */
  events: [],
  /** @type {Set<string>} */
  fresh: new Set(),
  rangeS: RANGES.includes(Number(stored('range', '300'))) ? Number(stored('range', '300')) : 300,
  filter: stored('filter', 'all'),
  eventsShown: EVENTS_PAGE,
  /** @type {import('./api.js').StreamState} */
  stream: 'connecting',
  downSince: 0,
};

const charts = CHARTS.map((c) => ({ ...c, chart: new LineChart(c.title, `chart-${c.id}`) }));

/** @param {Overview} o */
function showOverview(o) {
  const first = state.overview === null;
  state.overview = o;
  state.lastOverviewAt = Date.now();
  $('cluster-name').textContent = o.cluster;
  const firing = o.alerts.filter((a) => a.state === 'firing').length;
  document.title = `${firing ? `(${firing}) ` : ''}${o.cluster} · Bulwark`;
  renderSummary($('summary'), o);
  renderTopology($('tiers'), o);
  renderAlerts($('alerts-body'), $('alerts-count'), o.alerts);
  if (first) {
    $('topology').removeAttribute('aria-busy');
    // After the next paint (a task queued from the frame callback runs once the frame is out):
    // the moment the topology is on screen, which the browser test holds to its budget.
    requestAnimationFrame(() => setTimeout(() => {
      performance.mark('bulwark:topology');
      document.documentElement.dataset['ready'] = 'topology';
    }, 0));
  }
  showConnection();
}

function showEvents() {
  renderEvents(/** @type {HTMLOListElement} */ ($('events')), state.events, state.filter, state.fresh, state.eventsShown,
    () => { state.eventsShown += EVENTS_PAGE; showEvents(); });
}

/** @param {ApiEvent[]} fresh @param {boolean} live */
function addEvents(fresh, live) {
  const merged = mergeEvents(state.events, fresh, MAX_EVENTS);
  if (merged === state.events) return;
  if (live) for (const e of fresh) state.fresh.add(eventKey(e));
  state.events = merged;
  showEvents();
  // The highlight is a one-off: a later re-render must not replay it.
  if (live) setTimeout(() => { for (const e of fresh) state.fresh.delete(eventKey(e)); }, 4000);
}

async function loadEvents() {
  try {
    const r = await getJson(/** @type {string} */ ('/api/events?limit=200'));
    addEvents(/** @type {{ events: ApiEvent[] }} */ (r).events, false);
    if (state.events.length === 0) showEvents();
  } catch (err) {
    if (state.events.length === 0) $('events').replaceChildren(h('li', { class: 'placeholder error' }, `Could not load events: ${String(err)}`));
  }
}

/** @type {AbortController | null} */
let chartsInFlight = null;
/** @type {ReturnType<typeof setTimeout> | undefined} */
let chartTimer;

async function refreshCharts() {
  clearTimeout(chartTimer);
  chartsInFlight?.abort();
  const ctl = new AbortController();
  chartsInFlight = ctl;
  const range = state.rangeS;
  await Promise.all(charts.map(async (c) => {
    try {
      const answers = await Promise.all(c.names.map((n) => /** @type {Promise<ApiSeries>} */ (getJson(`/api/series?name=${n}&range=${range}`, ctl.signal))));
      const combined = answers.length > 1;
      const lines = answers.flatMap((a) => a.series.map((sr) => ({
        // latency_p50 + latency_p99 share a chart: "p50 app", "p99 app".
        label: combined ? `${a.name.replace(/^.*_/, '')} ${sr.label}`.trim() : sr.label,
        points: sr.points,
      })));
      c.chart.update({ unit: answers[0]?.unit ?? '', lines }, range, Date.now());
    } catch (err) {
      if (ctl.signal.aborted) return;
      c.chart.el.dataset['error'] = String(err);
    }
  }));
  if (ctl.signal.aborted) return;
  // Short ranges move visibly each scrape; long ones need far fewer refreshes.
  const every = Math.min(60_000, Math.max(2_000, (range * 1000) / 150));
  // A hidden tab stops refreshing; visibilitychange refreshes it on return.
  chartTimer = setTimeout(() => { if (!document.hidden) void refreshCharts(); }, every);
}

function showConnection() {
  const el = $('connection');
  el.dataset['state'] = state.stream;
  const text = /** @type {HTMLElement} */ (el.querySelector('.conn-text'));
  const now = Date.now();
  let msg = 'connecting…';
  if (state.stream === 'live') msg = state.lastOverviewAt ? `live · ${formatClock(state.lastOverviewAt)}` : 'live';
  else if (state.stream === 'stale') msg = `no update for ${Math.round((now - state.lastOverviewAt) / 1000)} s`;
  else if (state.stream === 'reconnecting') msg = `reconnecting… monitor unreachable since ${formatAgo(state.downSince, now).replace(' ago', '')}`.replace('since just now', 'just now');
  if (text.textContent !== msg) text.textContent = msg;
  document.body.classList.toggle('is-stale', state.stream !== 'live' && state.overview !== null);
}

function buildControls() {
  const range = $('range');
  for (const r of RANGES) {
    const id = `range-${r}`;
    const input = h('input', { type: 'radio', name: 'range', id, value: String(r), checked: r === state.rangeS });
    input.addEventListener('change', () => {
      state.rangeS = r;
      store('range', String(r));
      for (const c of charts) c.chart.el.setAttribute('aria-busy', 'true');
      void refreshCharts();
    });
    range.append(input, h('label', { for: id }, formatRange(r)));
  }
  const filter = $('event-filter');
  for (const [value, label] of FILTERS) {
    const id = `filter-${value}`;
    const input = h('input', { type: 'radio', name: 'filter', id, value, checked: value === state.filter });
    input.addEventListener('change', () => { state.filter = value; state.eventsShown = EVENTS_PAGE; store('filter', value); showEvents(); });
    filter.append(input, h('label', { for: id }, label));
  }
  if (!FILTERS.some(([v]) => v === state.filter)) state.filter = 'all';
  $('chart-grid').replaceChildren(...charts.map((c) => c.chart.el));
  new ResizeObserver(() => { for (const c of charts) c.chart.resize(); }).observe($('chart-grid'));
  $('tz').textContent = Intl.DateTimeFormat().resolvedOptions().timeZone || 'browser time';
}

function start() {
  buildControls();
  // Plain fetch options here, so the browser can hand over the response it preloaded.
  const first = getJson('/api/overview', undefined, 'default').then((o) => { if (!state.overview) showOverview(/** @type {Overview} */ (o)); })
    .catch((err) => { if (!state.overview) $('tiers').replaceChildren(h('p', { class: 'placeholder error' }, `Could not load the cluster: ${String(err)}`)); });
  openStream('/api/stream', {
    onOverview: showOverview,
    onEvent: (e) => addEvents([e], true),
    onState: (st, info) => { state.stream = st; state.downSince = info.since; showConnection(); },
    onReconnect: () => { void loadEvents(); void refreshCharts(); },
  });
  // The topology is what a visitor looks at first: the charts and the timeline (eight more
  // requests) wait for it, or for a second at most.
  void Promise.race([first, new Promise((r) => setTimeout(r, 1000))]).then(() => { void loadEvents(); void refreshCharts(); });
  setInterval(() => { refreshAgo(document); showConnection(); }, 1000);
  document.addEventListener('visibilitychange', () => { if (!document.hidden) void refreshCharts(); });
}

start();
