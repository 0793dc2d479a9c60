export { hostRuleset, openings, TABLE } from './ruleset.js';
export { checkRuleset, currentTable, loadRuleset, restoreTable } from './apply.js';
export { expectations, type Expectation } from './expectations.js';
export { mountProbeApi, type ProbeResult } from './probe.js';
export { FirewallEnforcer, type EnforcerStatus } from './enforcer.js';
