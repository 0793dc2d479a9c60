/**
 * Summarise a V8 .cpuprofile (from `node --cpu-prof`): self time per function and inclusive time
 * per function, as shares of all sampled time. Usable on its own:
 *
 *   node dist/bench/profile-summary.js PROFILE.cpuprofile [top=25]
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface FnShare {
  name: string;
  self: number;
  total: number;
}

function label(n: ProfileNode): string {
  const { functionName, url, lineNumber } = n.callFrame;
  const fn = functionName || '(anonymous)';
  if (!url) return fn;
  const short = url.replace(/^file:\/\/.*?\/dist\//, '').replace(/^node:/, 'node:');
  return `${fn} ${short}:${lineNumber + 1}`;
}

export function summarise(path: string): { totalMs: number; fns: FnShare[] } {
  const p = JSON.parse(readFileSync(path, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  let totalUs = 0;
  // timeDeltas[i] is the gap before sample i; attribute it to sample i (as DevTools does).
  for (let i = 0; i < p.samples.length; i++) {
    const dt = Math.max(0, p.timeDeltas[i] ?? 0);
    totalUs += dt;
    let id: number | undefined = p.samples[i]!;
    const leaf = byId.get(id)!;
    self.set(label(leaf), (self.get(label(leaf)) ?? 0) + dt);
    const seen = new Set<string>();
    while (id !== undefined) {
      const l = label(byId.get(id)!);
      if (!seen.has(l)) {
        seen.add(l);
        total.set(l, (total.get(l) ?? 0) + dt);
      }
      id = parent.get(id);
    }
  }
  const names = new Set([...self.keys(), ...total.keys()]);
  const fns = [...names].map((name) => ({ name, self: (self.get(name) ?? 0) / totalUs, total: (total.get(name) ?? 0) / totalUs }));
  return { totalMs: totalUs / 1000, fns };
}

export function formatSummary(path: string, top = 25): string {
  const { totalMs, fns } = summarise(path);
  const pct = (x: number): string => (x * 100).toFixed(1).padStart(5) + ' %';
  const lines = [`profile ${path}: ${(totalMs / 1000).toFixed(1)} s sampled`, '', 'self time:'];
  for (const f of [...fns].sort((a, b) => b.self - a.self).slice(0, top)) lines.push(`  ${pct(f.self)}  ${f.name}`);
  lines.push('', 'inclusive time (bench/src functions):');
  const ours = fns.filter((f) => /(src|bench)\//.test(f.name));
  for (const f of ours.sort((a, b) => b.total - a.total).slice(0, top)) lines.push(`  ${pct(f.total)}  (self ${pct(f.self).trim()})  ${f.name}`);
  return lines.join('\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const file = process.argv[2];
  if (!file) {
    process.stderr.write('usage: node dist/bench/profile-summary.js FILE.cpuprofile [top]\n');
    process.exit(2);
  }
  process.stdout.write(formatSummary(file, Number(process.argv[3] ?? 25)) + '\n');
}
