export { hostRuleset, openings, TABLE } from './ruleset.js';
export { checkRuleset, currentTable, loadRuleset, restoreTable, RollbackGuard } from './apply.js';
export { expectations, type Expectation } from './expectations.js';
export { mountProbeApi, type ProbeResult } from './probe.js';
export { FirewallEnforcer, HostFirewallError, type EnforcerStatus, type NftTable } from './enforcer.js';
