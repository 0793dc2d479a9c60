// @ts-check
/** Pure formatting helpers (no DOM): numbers with units, times, event kinds. Unit-tested in Node. */

/** @param {number} v @param {number} [digits] */
function trim(v, digits = 3) {
  if (v === 0) return '0';
  const abs = Math.abs(v);
  const d = abs >= 100 ? 0 : abs >= 10 ? Math.min(1, digits) : abs >= 1 ? Math.min(2, digits) : digits;
  return String(Number(v.toFixed(d)));
}

const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

/** 0 B, 512 B, 1.5 KiB, 23 MiB. @param {number} v */
export function formatBytes(v) {
  let i = 0;
  let n = Math.abs(v);
  while (n >= 1024 && i < BYTE_UNITS.length - 1) { n /= 1024; i++; }
  return `${v < 0 ? '-' : ''}${trim(n, 1)} ${BYTE_UNITS[i]}`;
}

/** Seconds as 0 ms, 850 µs, 4.2 ms, 1.3 s, 2 m 5 s. @param {number} v */
export function formatSeconds(v) {
  const abs = Math.abs(v);
  if (abs === 0) return '0 ms';
  if (abs < 0.001) return `${trim(v * 1e6, 0)} µs`;
  if (abs < 1) return `${trim(v * 1000, 1)} ms`;
  if (abs < 120) return `${trim(v, 1)} s`;
  const m = Math.floor(abs / 60);
  if (m < 120) return `${m} m ${Math.round(abs % 60)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} m`;
}

/** A ratio (0..1) as a percentage: 0 %, 0.12 %, 4.5 %, 100 %. @param {number} v */
export function formatRatio(v) {
  const pct = v * 100;
  return `${trim(pct, pct < 1 ? 2 : 1)} %`;
}

/** 1234 → 1.23k, 5_600_000 → 5.6M. @param {number} v */
export function formatCount(v) {
  const abs = Math.abs(v);
  if (abs >= 1e9) return `${trim(v / 1e9, 2)}G`;
  if (abs >= 1e6) return `${trim(v / 1e6, 2)}M`;
  if (abs >= 1e4) return `${trim(v / 1e3, 1)}k`;
  return trim(v, abs < 1 ? 3 : 2);
}

/**
 * A value in the unit an /api/series answer names. Unknown units print the number and the unit.
 * @param {string} unit
 * @param {number | null | undefined} v
 */
export function formatValue(unit, v) {
  if (v === null || v === undefined || !Number.isFinite(v)) return '–';
  switch (unit) {
    case 'bytes': return formatBytes(v);
    case 'seconds': case 's': return formatSeconds(v);
    case 'ratio': return formatRatio(v);
    case 'req/s': case 'requests/s': case 'rps': return `${formatCount(v)}/s`;
    case '': case 'count': case 'connections': return formatCount(v);
    default: return `${formatCount(v)} ${unit}`;
  }
}

/**
 * "Nice" axis ticks for a unit: bytes step in whole KiB/MiB/GiB (2 KiB, 4 KiB, not 3.9 KiB),
 * counts in whole numbers.
 * @param {string} unit
 * @param {number} max
 * @param {number} [count]
 */
export function ticksFor(unit, max, count = 4) {
  // Nobody has half a connection: counts get whole-number steps.
  if (unit === 'connections' || unit === 'count') return niceTicks(Math.max(max, count), count);
  if (unit !== 'bytes' || !(max >= 1024)) return niceTicks(max, count);
  const scale = 1024 ** Math.min(4, Math.floor(Math.log(max) / Math.log(1024)));
  return niceTicks(max / scale, count).map((v) => v * scale);
}

/**
 * "Nice" axis ticks from 0 to at least max: steps of 1, 2, 2.5 or 5 × 10^n.
 * @param {number} max
 * @param {number} [count] about how many intervals
 * @returns {number[]}
 */
export function niceTicks(max, count = 4) {
  if (!(max > 0) || !Number.isFinite(max)) return [0, 1];
  const raw = max / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((st) => st >= raw) ?? 10 * mag;
  const ticks = [];
  for (let v = 0; v < max + step * 0.999; v += step) ticks.push(Number(v.toPrecision(12)));
  if (ticks.length < 2) ticks.push(step);
  return ticks;
}

/** @param {number} n */
const pad = (n) => String(n).padStart(2, '0');

/** 14:03:07 in local time. @param {number | Date} t */
export function formatClock(t) {
  const d = new Date(t);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** 14:03 in local time. @param {number | Date} t */
export function formatHourMinute(t) {
  const d = new Date(t);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** "2026-01-01 14:03:07" when t is not today, else the clock. @param {number} t @param {number} now */
export function formatWhen(t, now) {
  const d = new Date(t);
  const n = new Date(now);
  if (d.toDateString() === n.toDateString()) return formatClock(t);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${formatClock(t)}`;
}

/** "just now", "42 s ago", "3 min ago", "2 h ago", "3 d ago". @param {number} t @param {number} now */
export function formatAgo(t, now) {
  const s = Math.max(0, Math.round((now - t) / 1000));
  if (s < 5) return 'just now';
  if (s < 90) return `${s} s ago`;
  const m = Math.round(s / 60);
  if (m < 90) return `${m} min ago`;
  const hr = Math.round(m / 60);
  if (hr < 48) return `${hr} h ago`;
  return `${Math.round(hr / 24)} d ago`;
}

/** 5 min, 1 h, 6 h, 24 h. @param {number} seconds */
export function formatRange(seconds) {
  if (seconds < 3600) return `${Math.round(seconds / 60)} min`;
  if (seconds < 86400 * 2) return `${Math.round(seconds / 3600)} h`;
  return `${Math.round(seconds / 86400)} d`;
}

/**
 * @typedef {'ha' | 'bad' | 'warn' | 'good' | 'info'} Tone
 * @typedef {{ label: string, icon: string, tone: Tone, group: 'ha' | 'health' | 'alerts' | 'security' | 'other' }} KindInfo
 */

/** @type {Record<string, KindInfo>} */
const KINDS = {
  failover: { label: 'Failover', icon: '⇅', tone: 'ha', group: 'ha' },
  switchover: { label: 'Switchover', icon: '⇅', tone: 'ha', group: 'ha' },
  takeover: { label: 'VIP takeover', icon: '⇆', tone: 'ha', group: 'ha' },
  // The first primary / VIP holder the monitor sees (a cluster starting), or the same one again
  // after a round without: nobody was replaced, so neither reads as a failover or a takeover.
  primary: { label: 'Primary', icon: '★', tone: 'good', group: 'ha' },
  vip: { label: 'VIP held', icon: '⇆', tone: 'good', group: 'ha' },
  node_down: { label: 'Node down', icon: '✕', tone: 'bad', group: 'health' },
  node_up: { label: 'Node up', icon: '✓', tone: 'good', group: 'health' },
  server_down: { label: 'Server down', icon: '✕', tone: 'bad', group: 'health' },
  server_up: { label: 'Server up', icon: '✓', tone: 'good', group: 'health' },
  ejection: { label: 'Ejected', icon: '⏏', tone: 'warn', group: 'health' },
  ban: { label: 'Ban', icon: '⊘', tone: 'warn', group: 'security' },
  alert_firing: { label: 'Alert firing', icon: '!', tone: 'bad', group: 'alerts' },
  alert_resolved: { label: 'Alert resolved', icon: '✓', tone: 'good', group: 'alerts' },
  no_primary: { label: 'No primary', icon: '✕', tone: 'bad', group: 'ha' },
  vip_unheld: { label: 'VIP unheld', icon: '✕', tone: 'bad', group: 'ha' },
};

/** Other spellings of the same kinds. */
const ALIASES = /** @type {Record<string, string>} */ ({ ejected: 'ejection', banned: 'ban' });

/**
 * One spelling per kind: node-down and node_down are the same event, and so are ejected and
 * ejection.
 * @param {string} kind
 */
export function canonicalKind(kind) {
  const k = String(kind).toLowerCase().replace(/-/g, '_');
  return ALIASES[k] ?? k;
}

/** How to show a timeline event's kind; unknown kinds keep their own words. @param {string} kind @returns {KindInfo} */
export function kindInfo(kind) {
  const known = KINDS[canonicalKind(kind)];
  if (known) return known;
  const words = String(kind).replace(/[_-]+/g, ' ').trim();
  return { label: words ? words[0]?.toUpperCase() + words.slice(1) : 'Event', icon: '•', tone: 'info', group: 'other' };
}
