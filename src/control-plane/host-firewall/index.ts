export { hostRuleset, openings, TABLE } from './ruleset.js';
export { checkRuleset, currentTable, loadRuleset, restoreTable } from './apply.js';
