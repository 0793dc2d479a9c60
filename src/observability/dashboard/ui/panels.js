// @ts-check
/** The glance strip, the open alerts and the event timeline. */
import { h, renderIfChanged } from './dom.js';
import { canonicalKind, formatAgo, formatWhen, kindInfo } from './format.js';
import { eventKey, summary } from './model.js';

/**
 * @param {HTMLElement} el
 * @param {import('./model.js').Overview} o
 */
export function renderSummary(el, o) {
  const items = summary(o);
  renderIfChanged(el, JSON.stringify(items), () => [h('dl', { class: 'glance' }, items.map((it) => h('div', { class: `glance-item ${it.tone}` },
    h('dt', null, it.label), h('dd', null, it.value))))]);
}

const SEVERITY_ORDER = ['critical', 'error', 'warning', 'info'];
const HIDDEN_LABELS = new Set(['alertname', 'severity', 'job', 'cluster']);

/**
 * @param {HTMLElement} body
 * @param {HTMLElement} count
 * @param {import('./model.js').ApiAlert[]} alerts
 */
export function renderAlerts(body, count, alerts) {
  const sorted = [...alerts].sort((a, b) => (a.state === b.state ? 0 : a.state === 'firing' ? -1 : 1)
    || rank(a.severity) - rank(b.severity) || Date.parse(a.since) - Date.parse(b.since));
  count.textContent = alerts.length ? `(${alerts.length})` : '';
  renderIfChanged(body, JSON.stringify(sorted), () => {
    if (sorted.length === 0) return [h('p', { class: 'all-clear' }, h('span', { 'aria-hidden': 'true' }, '✓ '), 'No open alerts')];
    return [h('ul', { class: 'alert-list' }, sorted.map((a) => {
      // Labels every alert carries (or that repeat the node) say nothing here.
      const labels = Object.entries(a.labels ?? {}).filter(([k]) => !HIDDEN_LABELS.has(k) && !(k === 'instance' && a.labels['node']));
      const summaryText = a.annotations?.['summary'] ?? '';
      const description = a.annotations?.['description'] ?? '';
      return h('li', { class: 'alert', dataset: { severity: a.severity, state: a.state, alert: a.name } },
        h('div', { class: 'alert-head' },
          h('span', { class: `sev ${a.severity}` }, a.severity),
          h('span', { class: `astate ${a.state}` }, a.state),
          h('time', { class: 'ago', datetime: a.since, dataset: { ago: a.since }, title: new Date(a.since).toLocaleString() }, formatAgo(Date.parse(a.since), Date.now()))),
        h('strong', { class: 'alert-name' }, a.name),
        labels.length ? h('p', { class: 'labels' }, labels.map(([k, v]) => h('span', { class: 'label' }, `${k}=${v}`))) : null,
        summaryText ? h('p', { class: 'alert-summary' }, summaryText) : null,
        description && description !== summaryText ? h('p', { class: 'alert-desc' }, description) : null);
    }))];
  });
}

/** @param {string} sev */
function rank(sev) {
  const i = SEVERITY_ORDER.indexOf(sev);
  return i < 0 ? SEVERITY_ORDER.length : i;
}

/** Refreshes every "3 min ago" on the page without re-rendering. @param {ParentNode} root */
export function refreshAgo(root) {
  const now = Date.now();
  for (const el of root.querySelectorAll('[data-ago]')) {
    const t = Date.parse(/** @type {HTMLElement} */ (el).dataset['ago'] ?? '');
    if (Number.isFinite(t)) el.textContent = formatAgo(t, now);
  }
}

export const FILTERS = /** @type {const} */ ([
  ['all', 'All'],
  ['ha', 'Failovers'],
  ['health', 'Health'],
  ['alerts', 'Alerts'],
]);

/**
 * @param {HTMLOListElement} list
 * @param {import('./model.js').ApiEvent[]} events newest first
 * @param {string} filter one of FILTERS
 * @param {Set<string>} fresh keys of events that arrived live (highlighted once)
 * @param {number} limit how many to show; a button below shows more
 * @param {() => void} more
 */
export function renderEvents(list, events, filter, fresh, limit, more) {
  const now = Date.now();
  const matching = events.filter((e) => {
    const g = kindInfo(e.kind).group;
    return filter === 'all' || g === filter || (filter === 'health' && g === 'security');
  });
  if (matching.length === 0) {
    list.replaceChildren(h('li', { class: 'placeholder' }, events.length ? 'No events of this kind.' : 'No events yet.'));
    return;
  }
  const items = matching.slice(0, limit).map((e) => {
    const k = kindInfo(e.kind);
    const t = Date.parse(e.at);
    return h('li', { class: `event ${k.tone}${fresh.has(eventKey(e)) ? ' fresh' : ''}`, dataset: { kind: canonicalKind(e.kind), ...(e.node ? { node: e.node } : {}) } },
      h('time', { datetime: e.at, title: new Date(t).toLocaleString() }, formatWhen(t, now)),
      h('span', { class: 'kind' }, h('span', { class: 'kind-icon', 'aria-hidden': 'true' }, k.icon), k.label),
      e.node ? h('span', { class: 'enode' }, e.node) : null,
      h('span', { class: 'msg' }, e.message));
  });
  const hidden = matching.length - limit;
  if (hidden > 0) items.push(h('li', { class: 'more' }, h('button', { type: 'button', onclick: more }, `Show older events (${hidden} more)`)));
  list.replaceChildren(...items);
}
