/**
 * The dashboard's JSON API (docs/monitoring.md has the shapes the UI relies on):
 *   GET /api/overview               topology, backends, database, open alerts
 *   GET /api/series?name=&range=    one chart's points over the last `range` seconds
 *   GET /api/events?limit=          the event timeline, newest first
 *   GET /api/stream                 server-sent events: `overview` every scrape, `event` per event
 */
import type { MonitorEvent } from '../store/history.js';
import { CHART_NAMES, type ChartName } from '../store/charts.js';
import type { Overview } from '../scrape/topology.js';

export interface SeriesAnswer {
  name: ChartName;
  unit: string;
  series: { label: string; points: [number, number][] }[];
}

/** What the monitor shows the dashboard. */
export interface MonitorView {
  overview(): Overview;
  series(name: ChartName, rangeMs: number): SeriesAnswer;
  events(limit: number): MonitorEvent[];
  /** Called with every overview and every new event; returns the unsubscribe. */
  subscribe(fn: (kind: 'overview' | 'event', data: unknown) => void): () => void;
}

export interface ApiAnswer {
  status: number;
  body: unknown;
}

const MAX_RANGE_S = 7 * 86_400;

export function apiGet(view: MonitorView, path: string, query: URLSearchParams): ApiAnswer | undefined {
  switch (path) {
    case '/api/overview':
      return { status: 200, body: view.overview() };
    case '/api/series': {
      const name = query.get('name');
      if (!name || !(CHART_NAMES as readonly string[]).includes(name)) {
        return { status: 400, body: { error: `name must be one of ${CHART_NAMES.join(', ')}; got ${JSON.stringify(name)}` } };
      }
      const rangeText = query.get('range') ?? '300';
      const range = Number(rangeText);
      if (!/^\d+$/.test(rangeText) || range < 1 || range > MAX_RANGE_S) {
        return { status: 400, body: { error: `range must be a whole number of seconds from 1 to ${MAX_RANGE_S}; got ${JSON.stringify(rangeText)}` } };
      }
      return { status: 200, body: view.series(name as ChartName, range * 1000) };
    }
    case '/api/events': {
      const limitText = query.get('limit') ?? '100';
      const limit = Number(limitText);
      if (!/^\d+$/.test(limitText) || limit < 1 || limit > 1000) {
        return { status: 400, body: { error: `limit must be a whole number from 1 to 1000; got ${JSON.stringify(limitText)}` } };
      }
      return { status: 200, body: { events: view.events(limit) } };
    }
    default:
      return undefined;
  }
}
