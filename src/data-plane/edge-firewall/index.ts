export { EdgeFirewall, FIREWALL_REASONS, type FirewallReason, type Verdict } from './edge-firewall.js';
export { BanWatch } from './ban-watch.js';
