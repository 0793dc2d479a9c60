/** `bulwark firewall plan|apply`: the host firewall derived from the cluster file. */
import { CONFIG_OPTION, type Verb } from '../verb.js';
import { loadSpec, printJson, table } from '../context.js';
import { callAgent } from '../agent-client.js';
import { BulwarkError } from '../../core/errors.js';
import { formatDuration } from '../../core/units.js';
import { findNode, nodesWithRole, type ClusterSpec, type NodeSpec } from '../../config/index.js';
import { checkRuleset, currentTable, expectations, hostRuleset, loadRuleset, restoreTable, type ProbeResult } from '../../control-plane/host-firewall/index.js';

export const firewall: Verb = {
  name: 'firewall',
  summary: 'The host firewall (nftables) derived from the topology: print it (plan), apply it here (apply); the edge firewall\'s bans (bans).',
  args: 'plan|apply|verify|bans',
  minArgs: 1,
  maxArgs: 1,
  options: {
    config: CONFIG_OPTION,
    node: { type: 'string', description: 'the node whose ruleset to print or apply (plan: default every node)', valueName: 'NAME' },
    yes: { type: 'boolean', description: 'apply: keep the new rules without asking (no automatic rollback)' },
    json: { type: 'boolean', description: 'verify: print the probes as JSON' },
    lift: { type: 'string', description: 'bans: lift the ban on this client address (on every lb)', valueName: 'ADDRESS' },
  },
  details: 'apply (root) loads the ruleset in one nft transaction, then keeps it only if you confirm within firewall.confirm_timeout;\n'
    + 'otherwise (no answer: your session may have been cut off) the previous bulwark table is restored. Other tables are never touched.',
  async run(parsed) {
    const spec = loadSpec(parsed);
    const what = parsed.positionals[0];
    const name = parsed.values['node'];
    if (what === 'plan') {
      const nodes = typeof name === 'string' ? [findNode(spec, name)] : spec.nodes;
      process.stdout.write(nodes.map((n) => hostRuleset(spec, n)).join('\n'));
      return 0;
    }
    if (what === 'apply') {
      if (typeof name !== 'string') throw new BulwarkError('BWK_USAGE', 'bulwark firewall apply: --node NAME is required (the node this host runs)');
      return apply(spec, findNode(spec, name), parsed.values['yes'] === true);
    }
    if (what === 'bans') return bans(spec, parsed.values['lift']);
    if (what === 'verify') return verify(spec, parsed.values['json'] === true);
    throw new BulwarkError('BWK_USAGE', `bulwark firewall: unknown subcommand ${JSON.stringify(what)} (use plan, apply or bans)`);
  },
};

/**
 * Probe from every node what its peers' rulesets should let through and what they should not,
 * and report each difference. Exit 1 when there is one (or a node could not probe).
 */
async function verify(spec: ClusterSpec, json: boolean): Promise<number> {
  const all = expectations(spec);
  const rows: { from: string; to: string; port: number; expected: string; got: string; ok: boolean; why: string }[] = [];
  await Promise.all(spec.nodes.map(async (from) => {
    const mine = all.filter((e) => e.from.name === from.name);
    if (mine.length === 0) return;
    const r = await callAgent<{ results: { host: string; port: number; result: ProbeResult }[] }>(
      spec, from, 'POST', '/firewall/probe', { targets: mine.map((e) => ({ host: e.to.address, port: e.port })), timeoutMs: 800 }, 15_000,
    );
    mine.forEach((e, i) => {
      const got = r.ok ? r.body!.results[i]!.result : `not probed (${r.error ?? `HTTP ${r.status}`})`;
      // Closed means not reachable: dropped (timeout) or refused. Open must connect.
      const ok = r.ok && (e.open ? got === 'open' : got !== 'open');
      rows.push({ from: from.name, to: e.to.name, port: e.port, expected: e.open ? 'open' : 'closed', got, ok, why: e.why });
    });
  }));
  rows.sort((a, b) => a.to.localeCompare(b.to) || a.port - b.port || a.from.localeCompare(b.from));
  const bad = rows.filter((r) => !r.ok);
  if (json) printJson({ clean: bad.length === 0, probes: rows });
  else if (bad.length === 0) console.log(`clean: ${rows.length} probes between ${spec.nodes.length} nodes, every one as the topology says`);
  else {
    console.log(`${bad.length} of ${rows.length} probes differ from the topology:`);
    console.log(table([['FROM', 'TO', 'PORT', 'EXPECTED', 'GOT', 'WHY'], ...bad.map((r) => [r.from, r.to, String(r.port), r.expected, r.got, r.why])]));
  }
  return bad.length === 0 ? 0 : 1;
}

/** Every lb's current bans, or lift one everywhere. */
async function bans(spec: ClusterSpec, lift: string | boolean | undefined): Promise<number> {
  const lbs = nodesWithRole(spec, 'lb');
  if (typeof lift === 'string') {
    const replies = await Promise.all(lbs.map((n) => callAgent<{ frontends: string[] }>(spec, n, 'POST', '/firewall/bans/lift', { client: lift })));
    const done = lbs.filter((_, i) => replies[i]!.ok);
    if (done.length === 0) {
      console.error(`${lift} was not banned (${replies.map((r, i) => `${lbs[i]!.name}: ${r.error ?? `HTTP ${r.status}`}`).join('; ')})`);
      return 1;
    }
    console.log(`lifted the ban on ${lift} on ${done.map((n) => n.name).join(', ')}`);
    return 0;
  }
  const rows: string[][] = [];
  for (const n of lbs) {
    const r = await callAgent<{ bans: { frontend: string; client: string; until: string }[] }>(spec, n, 'GET', '/firewall/bans');
    if (!r.ok) rows.push([n.name, '-', '-', r.error ?? `HTTP ${r.status}`]);
    else for (const b of r.body!.bans) rows.push([n.name, b.frontend, b.client, b.until]);
  }
  console.log(rows.length === 0 ? 'no client is banned' : table([['LB', 'FRONTEND', 'CLIENT', 'BANNED UNTIL'], ...rows]));
  return 0;
}

async function apply(spec: ClusterSpec, node: NodeSpec, yes: boolean): Promise<number> {
  const script = hostRuleset(spec, node);
  await checkRuleset(script);
  const saved = await currentTable();
  await loadRuleset(script);
  console.log(`applied the ruleset of ${node.name} (table inet bulwark; other tables untouched)`);
  if (yes) return 0;
  const within = spec.firewall.confirmTimeoutMs;
  if (await confirmed(`keep it? type "yes" within ${formatDuration(within)}, or it is rolled back: `, within)) {
    console.log('kept.');
    return 0;
  }
  await restoreTable(saved);
  console.error(`not confirmed within ${formatDuration(within)}: ${saved === undefined ? 'removed the bulwark table again' : 'restored the previous bulwark table'}`);
  return 1;
}

/** True when the operator types "yes" in time; false on timeout, another answer or end of input. */
function confirmed(question: string, timeoutMs: number): Promise<boolean> {
  process.stdout.write(question);
  return new Promise((resolve) => {
    let text = '';
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      process.stdin.off('data', onData).off('end', onEnd).pause();
      if (!ok) process.stdout.write('\n');
      resolve(ok);
    };
    const onData = (chunk: Buffer): void => {
      text += chunk.toString('utf8');
      const nl = text.indexOf('\n');
      if (nl >= 0) done(text.slice(0, nl).trim().toLowerCase() === 'yes');
    };
    const onEnd = (): void => done(text.trim().toLowerCase() === 'yes');
    const timer = setTimeout(() => done(false), timeoutMs);
    process.stdin.on('data', onData).on('end', onEnd).resume();
  });
}
