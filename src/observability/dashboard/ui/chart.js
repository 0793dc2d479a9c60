// @ts-check
/**
 * A small SVG line chart, drawn at the element's real pixel width (so text stays readable on a
 * phone instead of being scaled down with a viewBox). Lines differ by colour and by dash pattern;
 * the legend names each line and its latest value (or the value under the pointer).
 */
import { h, s } from './dom.js';
import { formatClock, formatHourMinute, formatRange, formatValue, ticksFor } from './format.js';

/**
 * @typedef {{ label: string, points: [number, number | null][] }} Line
 * @typedef {{ unit: string, lines: Line[] }} ChartData
 */

const HEIGHT = 132;
const DASHES = ['', '5 3', '1.5 3', '8 3 2 3', '3 2'];
/** The smallest top of the y axis per unit, so a flat zero line sits at the bottom, not mid-chart. */
const MIN_TOP = /** @type {Record<string, number>} */ ({ ratio: 0.01, s: 0.01, bytes: 1024 });
/** Candidate x-axis steps in seconds. */
const X_STEPS = [10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400];

/**
 * @param {[number, number | null][]} points sorted by time
 * @param {number} t
 * @returns {number} index of the point nearest to t
 */
function nearest(points, t) {
  let lo = 0;
  let hi = points.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((points[mid]?.[0] ?? 0) < t) lo = mid + 1; else hi = mid;
  }
  if (lo > 0 && Math.abs((points[lo - 1]?.[0] ?? 0) - t) < Math.abs((points[lo]?.[0] ?? 0) - t)) return lo - 1;
  return lo;
}

/** The typical spacing between points, to tell a gap (missed scrapes) from the normal step. @param {[number, number | null][]} points */
function typicalStep(points) {
  const gaps = [];
  for (let i = 1; i < points.length && gaps.length < 50; i++) gaps.push((points[i]?.[0] ?? 0) - (points[i - 1]?.[0] ?? 0));
  gaps.sort((a, b) => a - b);
  return gaps[Math.floor(gaps.length / 2)] ?? 0;
}

export class LineChart {
  /**
   * @param {string} title
   * @param {string} id
   */
  constructor(title, id) {
    this.title = title;
    this.valueEl = h('span', { class: 'chart-now' });
    this.plot = h('div', { class: 'plot' });
    this.legend = h('ul', { class: 'legend' });
    this.el = h('figure', { class: 'chart', id, 'aria-busy': 'true' },
      h('figcaption', null, h('span', { class: 'chart-title' }, title), this.valueEl),
      this.plot, this.legend);
    /** @type {ChartData | null} */
    this.data = null;
    this.rangeS = 300;
    this.now = Date.now();
    this.width = 0;
    /** @type {number | null} */
    this.hoverT = null;
  }

  /**
   * @param {ChartData} data
   * @param {number} rangeS
   * @param {number} now
   */
  update(data, rangeS, now) {
    this.data = { unit: data.unit, lines: data.lines.map((l) => ({ label: l.label, points: [...l.points].sort((a, b) => a[0] - b[0]) })) };
    this.rangeS = rangeS;
    this.now = now;
    this.el.removeAttribute('aria-busy');
    this.el.dataset['points'] = String(this.data.lines.reduce((n, l) => n + l.points.filter((p) => p[1] !== null).length, 0));
    this.draw();
  }

  /** Called when the layout changes size. */
  resize() {
    const w = Math.floor(this.plot.clientWidth);
    if (w > 0 && w !== this.width) this.draw();
  }

  draw() {
    const data = this.data;
    const width = Math.max(120, Math.floor(this.plot.clientWidth) || 300);
    this.width = width;
    if (!data) return;
    const unit = data.unit;
    const t1 = this.now;
    const t0 = t1 - this.rangeS * 1000;
    const visible = data.lines.map((l) => ({ ...l, points: l.points.filter((p) => p[0] >= t0 - 60_000) }));
    let max = 0;
    for (const l of visible) for (const p of l.points) if (p[1] !== null && p[0] >= t0 && p[1] > max) max = p[1];
    const ticks = ticksFor(unit, Math.max(max * 1.05, MIN_TOP[unit] ?? 1), 3);
    const top = ticks[ticks.length - 1] ?? 1;
    const labels = ticks.map((v) => formatValue(unit, v));
    const left = Math.max(...labels.map((l) => l.length)) * 6.4 + 10;
    const right = 6;
    const pad = { t: 8, b: 20 };
    const plotW = width - left - right;
    const plotH = HEIGHT - pad.t - pad.b;
    /** @param {number} t */
    const x = (t) => left + ((t - t0) / (t1 - t0)) * plotW;
    /** @param {number} v */
    const y = (v) => pad.t + plotH - (v / top) * plotH;

    const svg = s('svg', { width, height: HEIGHT, viewBox: `0 0 ${width} ${HEIGHT}`, role: 'img', 'aria-label': this.describe(visible, unit) });
    const grid = s('g', { class: 'grid' });
    ticks.forEach((v, i) => {
      grid.append(s('line', { x1: left, x2: width - right, y1: y(v), y2: y(v) }));
      const label = s('text', { x: left - 6, y: y(v) + 3.5, 'text-anchor': 'end' });
      label.textContent = labels[i] ?? '';
      grid.append(label);
    });
    const maxLabels = Math.max(2, Math.floor(plotW / 70));
    const step = (X_STEPS.find((st) => (t1 - t0) / 1000 / st <= maxLabels) ?? 86400) * 1000;
    const offset = new Date().getTimezoneOffset() * 60_000;
    for (let t = Math.ceil((t0 - offset) / step) * step + offset; t <= t1; t += step) {
      if (x(t) < left + 16 || x(t) > width - right - 16) continue;
      grid.append(s('line', { class: 'x', x1: x(t), x2: x(t), y1: pad.t, y2: pad.t + plotH }));
      const label = s('text', { x: x(t), y: HEIGHT - 5, 'text-anchor': 'middle' });
      label.textContent = step < 60_000 ? formatClock(t) : formatHourMinute(t);
      grid.append(label);
    }
    svg.append(grid);

    const clip = `clip-${this.el.id}`;
    svg.append(s('clipPath', { id: clip }, s('rect', { x: left, y: 0, width: plotW, height: pad.t + plotH + 1 })));
    const linesG = s('g', { 'clip-path': `url(#${clip})` });
    visible.forEach((l, i) => {
      const stepMs = typicalStep(l.points);
      const gapMs = Math.max(stepMs * 3, 2500);
      let d = '';
      /** @type {[number, number][]} */
      const singles = [];
      let run = 0;
      let prevT = -Infinity;
      for (let k = 0; k < l.points.length; k++) {
        const [t, v] = /** @type {[number, number | null]} */ (l.points[k]);
        if (v === null || t - prevT > gapMs) {
          if (run === 1) { const p = l.points[k - 1]; if (p && p[1] !== null) singles.push([p[0], p[1]]); }
          run = 0;
        }
        prevT = t;
        if (v === null) continue;
        d += `${run === 0 ? 'M' : 'L'}${x(t).toFixed(1)},${y(v).toFixed(1)}`;
        run++;
      }
      if (run === 1) { const p = l.points[l.points.length - 1]; if (p && p[1] !== null) singles.push([p[0], p[1]]); }
      const cls = `line c${i % 6}`;
      if (d) linesG.append(s('path', { class: cls, d, 'stroke-dasharray': DASHES[i % DASHES.length] || null }));
      for (const [t, v] of singles) linesG.append(s('circle', { class: `dot c${i % 6}`, cx: x(t), cy: y(v), r: 2 }));
    });
    svg.append(linesG);

    if (!visible.some((l) => l.points.some((p) => p[1] !== null && p[0] >= t0))) {
      const t = s('text', { class: 'empty', x: left + plotW / 2, y: pad.t + plotH / 2, 'text-anchor': 'middle' });
      t.textContent = 'no data in this range';
      svg.append(t);
    }

    // Pointer: a vertical rule and the values at that moment in the legend.
    const rule = s('line', { class: 'rule', x1: 0, x2: 0, y1: pad.t, y2: pad.t + plotH, visibility: 'hidden' });
    svg.append(rule);
    const hit = s('rect', { class: 'hit', x: left, y: 0, width: plotW, height: HEIGHT });
    /** @param {PointerEvent} ev */
    const move = (ev) => {
      const box = svg.getBoundingClientRect();
      const px = Math.min(Math.max(ev.clientX - box.left, left), left + plotW);
      this.hoverT = t0 + ((px - left) / plotW) * (t1 - t0);
      rule.setAttribute('x1', String(px));
      rule.setAttribute('x2', String(px));
      rule.setAttribute('visibility', 'visible');
      this.renderLegend(visible, unit);
    };
    hit.addEventListener('pointermove', /** @type {EventListener} */ (move));
    hit.addEventListener('pointerdown', /** @type {EventListener} */ (move));
    hit.addEventListener('pointerleave', () => {
      this.hoverT = null;
      rule.setAttribute('visibility', 'hidden');
      this.renderLegend(visible, unit);
    });
    svg.append(hit);
    this.plot.replaceChildren(svg);
    this.renderLegend(visible, unit);
  }

  /**
   * @param {Line[]} lines
   * @param {string} unit
   */
  renderLegend(lines, unit) {
    const at = this.hoverT;
    /** @param {Line} l */
    const valueOf = (l) => {
      if (l.points.length === 0) return null;
      if (at === null) {
        const last = l.points[l.points.length - 1];
        // A series whose last point is old has no "current" value (its node is down).
        return last && this.now - last[0] < Math.max(3 * typicalStep(l.points), 15_000) ? last[1] : null;
      }
      const p = l.points[nearest(l.points, at)];
      return p && Math.abs(p[0] - at) <= Math.max(2 * typicalStep(l.points), 2000) ? p[1] : null;
    };
    const items = lines.map((l, i) => h('li', null,
      s('svg', { class: 'swatch', width: 18, height: 8, 'aria-hidden': 'true' },
        s('line', { class: `line c${i % 6}`, x1: 1, x2: 17, y1: 4, y2: 4, 'stroke-dasharray': DASHES[i % DASHES.length] || null })),
      h('span', { class: 'label' }, l.label),
      h('span', { class: 'value' }, formatValue(unit, valueOf(l)))));
    this.legend.replaceChildren(...items);
    if (at !== null) this.valueEl.textContent = `at ${formatClock(at)}`;
    else this.valueEl.textContent = lines.length === 1 ? formatValue(unit, valueOf(/** @type {Line} */ (lines[0]))) : '';
  }

  /**
   * @param {Line[]} lines
   * @param {string} unit
   */
  describe(lines, unit) {
    const parts = lines.map((l) => {
      const vals = l.points.map((p) => p[1]).filter((v) => v !== null);
      if (vals.length === 0) return `${l.label}: no data`;
      return `${l.label}: now ${formatValue(unit, vals[vals.length - 1])}, max ${formatValue(unit, Math.max(.../** @type {number[]} */ (vals)))}`;
    });
    return `${this.title}, last ${formatRange(this.rangeS)}. ${parts.join('; ') || 'No data.'}`;
  }
}
