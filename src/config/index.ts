/**
 * The config capability: one cluster file → a validated, defaulted, deeply frozen ClusterSpec.
 * Errors are BulwarkErrors (BWK_CONFIG_NOT_FOUND / BWK_CONFIG_SYNTAX / BWK_CONFIG_INVALID) whose
 * details are `file:line:col: key.path: message` lines, one per problem.
 */
export { defaultConfigPath, loadClusterFile, parseClusterText, type LoadOptions } from './load.js';
export { findNode, nodesWithRole } from './find-node.js';
export { DEFAULTS } from './defaults.js';
export * from './types.js';
import { readStandby } from './schema-standby.js';
import type { StandbySpec } from './types.js';

/** The standby settings of a cluster file that does not mention them (every key defaulted). */
export function standbyDefaults(voters: readonly string[] = []): StandbySpec {
  return { ...readStandby(undefined, []), voters };
}
