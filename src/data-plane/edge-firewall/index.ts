export { EdgeFirewall, FIREWALL_REASONS, type FirewallReason, type Verdict } from './edge-firewall.js';
