// @ts-check
/**
 * A tiny element builder: h('li', { class: 'x', dataset: { kind } }, 'text', child).
 * Strings become text nodes (never HTML), so API data cannot inject markup.
 */

/** @typedef {string | number | Node | null | undefined | false} Child */

/**
 * @param {string} tag
 * @param {Record<string, unknown> | null} [props]
 * @param {...(Child | Child[])} children
 * @returns {HTMLElement}
 */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  if (props) setProps(el, props);
  append(el, children);
  return el;
}

const SVG_NS = 'http://www.w3.org/2000/svg';

/**
 * @param {string} tag
 * @param {Record<string, string | number | null | undefined>} [attrs]
 * @param {...(SVGElement | null | undefined)} children
 * @returns {SVGElement}
 */
export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs ?? {})) if (v !== null && v !== undefined) el.setAttribute(k, String(v));
  for (const c of children) if (c) el.append(c);
  return el;
}

/**
 * @param {HTMLElement} el
 * @param {Record<string, unknown>} props
 */
function setProps(el, props) {
  for (const [k, v] of Object.entries(props)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') el.className = String(v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), /** @type {EventListener} */ (v));
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
}

/**
 * @param {Element} el
 * @param {(Child | Child[])[]} children
 */
function append(el, children) {
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(typeof c === 'object' ? c : String(c));
  }
}

/** @type {WeakMap<Element, string>} */
const lastKeys = new WeakMap();

/**
 * Replaces el's children only when `key` differs from the last render's: a 1 s overview stream
 * then touches the DOM only when something changed (no flicker, screen readers stay quiet).
 * @param {HTMLElement} el
 * @param {string} key
 * @param {() => (Child | Child[])[]} render
 * @returns {boolean} whether it rendered
 */
export function renderIfChanged(el, key, render) {
  if (lastKeys.get(el) === key) return false;
  lastKeys.set(el, key);
  const frag = document.createDocumentFragment();
  append(/** @type {Element} */ (/** @type {unknown} */ (frag)), render());
  el.replaceChildren(frag);
  return true;
}
