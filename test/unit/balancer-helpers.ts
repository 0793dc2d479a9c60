/** Shared fixtures of the balancer tests (not a test file itself). */
import type { BalancePolicy, BalanceSpec } from '../../src/config/types.js';
import type { Pickable, PickContext } from '../../src/data-plane/balancer/index.js';

export const POLICIES: readonly BalancePolicy[] = ['roundrobin', 'leastconn', 'p2c', 'hash', 'sticky'];

export interface TestServer extends Pickable {
  name: string;
  weight: number;
  active: number;
}

export function servers(weights: readonly number[], prefix = 's'): TestServer[] {
  return weights.map((weight, i) => ({ name: `${prefix}${i}`, weight, active: 0 }));
}

export function spec(policy: BalancePolicy, extra: Partial<BalanceSpec> = {}): BalanceSpec {
  return { policy, hashOn: 'source', cookie: 'bwk_srv', ...extra };
}

export function ctx(
  clientIp = '192.0.2.1',
  headers: Readonly<Record<string, string>> = {},
  cookies: Readonly<Record<string, string>> = {},
): PickContext {
  return {
    clientIp,
    header: (name) => headers[name],
    cookie: (name) => cookies[name],
  };
}

/** A distinct client address per integer, for spreading keys. */
export function ip(n: number): string {
  return `10.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

/** Deterministic PRNG (mulberry32), so randomised policies give the same run every time. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A random() that replays the given values in order and fails the test if it runs out. */
export function scripted(values: readonly number[]): () => number {
  let i = 0;
  return () => {
    if (i >= values.length) throw new Error(`random() called more than the ${values.length} scripted times`);
    return values[i++]!;
  };
}

export const all = (): boolean => true;

export function names(list: readonly (Pickable | undefined)[]): string {
  return list.map((s) => s?.name ?? '-').join(' ');
}
