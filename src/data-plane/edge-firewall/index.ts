export { EdgeFirewall, type Verdict } from './edge-firewall.js';
