/** `bulwark firewall plan|apply|verify|bans`: the host firewall derived from the cluster file, and the edge firewall's bans. */
import { constants } from 'node:os';
import { CONFIG_OPTION, type Verb } from '../verb.js';
import { loadSpec, printJson, table } from '../context.js';
import { callAgent } from '../agent-client.js';
import { BulwarkError } from '../../core/errors.js';
import { formatDuration } from '../../core/units.js';
import { canonicalIp, isLoopbackAddress } from '../../core/ip-address.js';
import { findNode, nodesWithRole, type ClusterSpec, type NodeSpec } from '../../config/index.js';
import { RollbackGuard, checkRuleset, currentTable, expectations, hostRuleset, loadRuleset, restoreTable, type ProbeResult } from '../../control-plane/host-firewall/index.js';

export const firewall: Verb = {
  name: 'firewall',
  summary: 'The host firewall (nftables) derived from the topology: print it (plan), apply it here (apply), probe it (verify); the edge firewall\'s bans (bans).',
  args: 'plan|apply|verify|bans',
  minArgs: 1,
  maxArgs: 1,
  options: {
    config: CONFIG_OPTION,
    node: { type: 'string', description: 'the node whose ruleset to print or apply (plan: default every node)', valueName: 'NAME' },
    yes: { type: 'boolean', description: 'apply: keep the new rules without asking (no automatic rollback)' },
    json: { type: 'boolean', description: 'verify, bans: print JSON' },
    lift: { type: 'string', description: 'bans: lift the ban on this client address (on every lb)', valueName: 'ADDRESS' },
  },
  details: 'apply (root) loads the ruleset in one nft transaction, then keeps it only if you confirm within firewall.confirm_timeout;\n'
    + 'otherwise (another answer, end of input, Ctrl-C, SIGHUP/SIGTERM, or no answer: your session may have been cut off) the previous\n'
    + 'bulwark table is restored, even if this process is killed outright (a detached guard does it). Other tables are never touched.\n'
    + 'bans lists every lb\'s bans (exit 1 when an lb cannot be asked); bans --lift ADDRESS lifts one on every lb.',
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
    if (what === 'bans') return bans(spec, parsed.values['lift'], parsed.values['json'] === true);
    if (what === 'verify') return verify(spec, parsed.values['json'] === true);
    throw new BulwarkError('BWK_USAGE', `bulwark firewall: unknown subcommand ${JSON.stringify(what)} (use plan, apply, verify or bans)`);
  },
};

/**
 * Probe from every node what its peers' rulesets should let through and what they should not,
 * and report each difference. Exit 1 when there is one (or a node could not probe).
 */
async function verify(spec: ClusterSpec, json: boolean): Promise<number> {
  // Nodes on loopback addresses share one machine, and its one firewall cannot keep them apart
  // (loopback traffic is accepted): every probe would "differ" and none would mean anything.
  if (spec.nodes.every((n) => isLoopbackAddress(n.address))) {
    throw new BulwarkError('BWK_FIREWALL_ONE_HOST', `bulwark firewall verify: every node of "${spec.cluster}" is on a loopback address of this machine, `
      + 'where one host firewall cannot separate them; verify checks clusters whose nodes are separate hosts (docs/firewall.md)');
  }
  const all = expectations(spec);
  const rows: { from: string; to: string; port: number; expected: string; got: string; ok: boolean; why: string }[] = [];
  await Promise.all(spec.nodes.map(async (from) => {
    const mine = all.filter((e) => e.from.name === from.name);
    if (mine.length === 0) return;
    const r = await callAgent<{ results: { host: string; port: number; result: ProbeResult }[] }>(
      spec, from, 'POST', '/firewall/probe', { targets: mine.map((e) => ({ host: e.to.address, port: e.port })), timeoutMs: 800 }, 15_000,
    );
    mine.forEach((e, i) => {
      const result = r.ok ? r.body!.results[i]!.result : undefined;
      // Closed means dropped: the rules drop, they never reject, so a refusal came from the
      // host's TCP stack. The packet got through and only the missing listener stopped it: a
      // hole the next service on that port falls into.
      const got = result === undefined ? `not probed (${r.error ?? `HTTP ${r.status}`})`
        : result === 'refused' && !e.open ? 'refused (not dropped: nothing listens)' : result;
      const ok = result !== undefined && (e.open ? result === 'open' : result === 'timeout');
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
async function bans(spec: ClusterSpec, lift: string | boolean | undefined, json: boolean): Promise<number> {
  const lbs = nodesWithRole(spec, 'lb');
  if (typeof lift === 'string') {
    // The edge keys clients by their canonical address: ::ffff:10.0.0.7 is banned as 10.0.0.7.
    const client = canonicalIp(lift);
    if (client === undefined) throw new BulwarkError('BWK_USAGE', `bulwark firewall bans: --lift takes a client IP address (IPv4 or IPv6), not ${JSON.stringify(lift)}`);
    const replies = await Promise.all(lbs.map((n) => callAgent<{ frontends: string[] }>(spec, n, 'POST', '/firewall/bans/lift', { client })));
    const done = lbs.filter((_, i) => replies[i]!.ok);
    // 404 means "not banned there"; anything else means the lb could not be asked.
    const failed = lbs.flatMap((n, i) => (replies[i]!.ok || replies[i]!.status === 404 ? [] : [`${n.name}: ${replies[i]!.error ?? `HTTP ${replies[i]!.status}`}`]));
    if (json) printJson({ client, liftedOn: done.map((n) => n.name), unreachable: failed });
    else if (done.length > 0) console.log(`lifted the ban on ${client} on ${done.map((n) => n.name).join(', ')}`);
    else if (failed.length === 0) console.error(`${client} is not banned on any lb`);
    if (!json && failed.length > 0) console.error(`could not ask ${failed.join('; ')}`);
    return done.length > 0 && failed.length === 0 ? 0 : 1;
  }
  const replies = await Promise.all(lbs.map((n) => callAgent<{ bans: { frontend: string; client: string; until: string }[] }>(spec, n, 'GET', '/firewall/bans')));
  const list = lbs.flatMap((n, i) => (replies[i]!.ok ? replies[i]!.body!.bans.map((b) => ({ lb: n.name, ...b })) : []));
  const unreachable = lbs.flatMap((n, i) => (replies[i]!.ok ? [] : [{ lb: n.name, error: replies[i]!.error ?? `HTTP ${replies[i]!.status}` }]));
  if (json) printJson({ bans: list, unreachable });
  else {
    console.log(list.length === 0 ? 'no client is banned' : table([['LB', 'FRONTEND', 'CLIENT', 'BANNED UNTIL'], ...list.map((b) => [b.lb, b.frontend, b.client, b.until])]));
    // A silent gap would read as "nobody is banned there".
    for (const u of unreachable) console.error(`${u.lb}: could not list its bans: ${u.error}`);
  }
  return unreachable.length === 0 ? 0 : 1;
}

/** How long after the confirmation deadline the detached guard rolls back: the CLI itself normally has by then. */
const GUARD_GRACE_MS = 2000;

async function apply(spec: ClusterSpec, node: NodeSpec, yes: boolean): Promise<number> {
  const script = hostRuleset(spec, node);
  await checkRuleset(script);
  const saved = await currentTable();
  const within = spec.firewall.confirmTimeoutMs;
  // Armed before the rules go in: from then on something undoes them unless the operator says
  // yes, even if this process is SIGKILLed or its session vanishes.
  const guard = yes ? undefined : RollbackGuard.arm(saved, within + GUARD_GRACE_MS);
  try {
    await loadRuleset(script);
  } catch (err) {
    guard?.disarm();
    throw err;
  }
  console.log(`applied the ruleset of ${node.name} (table inet bulwark; other tables untouched)`);
  if (!guard) return 0;
  const answer = await confirmation(`keep it? type "yes" within ${formatDuration(within)}, or it is rolled back: `, within);
  if (answer === 'yes') {
    if (guard.disarm()) {
      console.log('kept.');
      return 0;
    }
    console.error('confirmed, but the rollback guard had already run: the previous bulwark table is back');
    return 1;
  }
  guard.disarm();
  // Restore before saying anything: after SIGHUP the terminal may be gone, and a failed write must not stop the rollback.
  await restoreTable(saved);
  const why = answer === 'timeout' ? `not confirmed within ${formatDuration(within)}`
    : answer === 'end' ? 'not confirmed (end of input)'
      : answer === 'other' ? 'not confirmed (the answer was not "yes")' : `interrupted by ${answer}`;
  console.error(`${why}: ${saved === undefined ? 'removed the bulwark table again' : 'restored the previous bulwark table'}`);
  return answer.startsWith('SIG') ? 128 + (constants.signals[answer as NodeJS.Signals] ?? 0) : 1;
}

type Answer = 'yes' | 'other' | 'end' | 'timeout' | 'SIGINT' | 'SIGHUP' | 'SIGTERM';
const SIGNALS = ['SIGINT', 'SIGHUP', 'SIGTERM'] as const;

/**
 * The operator's answer: "yes", another line, end of input, no answer in time, or a signal. The
 * signals are caught while asking so that Ctrl-C or a dropped session rolls back instead of
 * killing the process with the new rules in place.
 */
function confirmation(question: string, timeoutMs: number): Promise<Answer> {
  process.stdout.write(question);
  return new Promise((resolve) => {
    let text = '';
    let finished = false;
    const onSignal = SIGNALS.map((sig) => [sig, (): void => done(sig)] as const);
    const done = (answer: Answer): void => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      process.stdin.off('data', onData).off('end', onEnd).off('error', onEnd).pause();
      for (const [sig, fn] of onSignal) process.off(sig, fn);
      // Stop reading (a held-open stdin must not keep the process alive); a gone terminal must not throw.
      process.stdin.destroy();
      process.stdout.on('error', () => {});
      process.stderr.on('error', () => {});
      if (answer !== 'yes') process.stdout.write('\n');
      resolve(answer);
    };
    const onData = (chunk: Buffer): void => {
      text += chunk.toString('utf8');
      const nl = text.indexOf('\n');
      if (nl >= 0) done(text.slice(0, nl).trim().toLowerCase() === 'yes' ? 'yes' : 'other');
    };
    const onEnd = (): void => done(text.trim().toLowerCase() === 'yes' ? 'yes' : 'end');
    const timer = setTimeout(() => done('timeout'), timeoutMs);
    for (const [sig, fn] of onSignal) process.once(sig, fn);
    process.stdin.on('data', onData).on('end', onEnd).on('error', onEnd).resume();
  });
}
