/**
 * The node's Prometheus registry. Metric names follow bulwark_<subsystem>_<name>_<unit>.
 * Process metrics (CPU, memory, event-loop lag, fds) come from prom-client's defaults.
 */
import { Registry, collectDefaultMetrics } from 'prom-client';

export function createRegistry(labels: Record<string, string>): Registry {
  const registry = new Registry();
  registry.setDefaultLabels(labels);
  collectDefaultMetrics({ register: registry, prefix: 'bulwark_' });
  return registry;
}
