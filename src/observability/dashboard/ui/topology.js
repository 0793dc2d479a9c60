// @ts-check
/** The topology panel: one column per tier (edge → web → database, then monitor), a card per node. */
import { h, renderIfChanged } from './dom.js';
import { topology } from './model.js';

const ICON = { ok: '●', warn: '▲', bad: '✕', idle: '○' };

/**
 * @param {import('./model.js').NodeView} n
 */
function nodeCard(n) {
  const vip = n.role === 'lb' && n.badges.some((b) => b.tone === 'accent');
  const primary = n.role === 'db' && n.badges.some((b) => b.text === 'primary');
  return h('li', {
    class: 'node', title: n.detail && !n.showDetail ? n.detail : null, dataset: { node: n.name, health: n.health, status: n.status, ...(vip ? { vip: 'true' } : {}), ...(primary ? { primary: 'true' } : {}) },
  },
  h('div', { class: 'node-head' },
    h('span', { class: 'health-icon', 'aria-hidden': 'true' }, ICON[n.health]),
    h('strong', { class: 'node-name' }, n.name),
    h('span', { class: 'status' }, n.status)),
  h('div', { class: 'addr' }, n.address),
  n.badges.length ? h('ul', { class: 'badges', 'aria-label': 'state' }, n.badges.map((b) => h('li', { class: `badge ${b.tone}`, title: b.title }, b.text))) : null,
  n.facts.length ? h('p', { class: 'facts' }, n.facts.join(' · ')) : null,
  n.showDetail ? h('p', { class: 'detail' }, n.detail) : null);
}

/**
 * @param {HTMLElement} el the tiers container
 * @param {import('./model.js').Overview} o
 */
export function renderTopology(el, o) {
  const tiers = topology(o);
  return renderIfChanged(el, JSON.stringify(tiers), () => tiers.map((t, i) => {
    const next = tiers[i + 1];
    return h('section', { class: 'tier', dataset: { tier: t.id }, 'aria-labelledby': `tier-${t.id}` },
      h('h3', { id: `tier-${t.id}` }, t.title, ' ', h('span', { class: 'tier-note' }, t.note)),
      // The request path runs lb → web → db; the monitor watches them all, it is not a step.
      next && next.id !== 'monitor' ? h('span', { class: 'flow', 'aria-hidden': 'true' }) : null,
      h('ul', { class: 'nodes' }, t.nodes.map(nodeCard)));
  }));
}
