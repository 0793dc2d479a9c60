/**
 * Typed reading of the YAML tree. Every reader either returns a value or records a problem
 * (naming the key path and position) and returns undefined; nothing throws, so one pass finds
 * every problem in the file.
 */
import { parseDuration, parseSize } from '../core/units.js';
import { childPath, type Issues } from './issues.js';
import { didYouMean } from './suggest.js';
import type { YMap, YNode } from './yaml-positions.js';

export interface Opt {
  readonly required?: boolean;
}
export interface RangeOpt extends Opt {
  readonly min?: number;
  readonly max?: number;
}

/** How a value looks, for "got …" in messages. */
export function describe(node: YNode): string {
  if (node.kind === 'map') return 'a mapping';
  if (node.kind === 'seq') return 'a list';
  const v = node.value;
  if (v === null || v === undefined) return 'nothing';
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return `a ${typeof v} value`;
}

function rangeProblem(value: number, min: number | undefined, max: number | undefined): string | undefined {
  if (min !== undefined && max !== undefined && (value < min || value > max)) return `must be between ${min} and ${max}, got ${value}`;
  if (min !== undefined && value < min) return `must be at least ${min}, got ${value}`;
  if (max !== undefined && value > max) return `must be at most ${max}, got ${value}`;
  return undefined;
}

export class Reader {
  constructor(readonly issues: Issues) {}

  private expected(node: YNode, path: string, what: string): undefined {
    this.issues.add(path, `expected ${what}, got ${describe(node)}`);
    return undefined;
  }

  string(node: YNode, path: string): string | undefined {
    if (node.kind !== 'scalar' || typeof node.value !== 'string') return this.expected(node, path, 'a string');
    if (node.value.trim() === '') {
      this.issues.add(path, 'must not be empty');
      return undefined;
    }
    return node.value;
  }

  int(node: YNode, path: string, opt: RangeOpt = {}): number | undefined {
    const v = node.kind === 'scalar' ? node.value : undefined;
    if (typeof v !== 'number' || !Number.isInteger(v)) return this.expected(node, path, 'an integer');
    return this.inRange(v, path, opt);
  }

  number(node: YNode, path: string, opt: RangeOpt = {}): number | undefined {
    const v = node.kind === 'scalar' ? node.value : undefined;
    if (typeof v !== 'number' || !Number.isFinite(v)) return this.expected(node, path, 'a number');
    return this.inRange(v, path, opt);
  }

  private inRange(v: number, path: string, opt: RangeOpt): number | undefined {
    const problem = rangeProblem(v, opt.min, opt.max);
    if (problem === undefined) return v;
    this.issues.add(path, problem);
    return undefined;
  }

  port(node: YNode, path: string): number | undefined {
    const v = node.kind === 'scalar' ? node.value : undefined;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 65535) {
      return this.expected(node, path, 'a port number 1–65535');
    }
    return v;
  }

  bool(node: YNode, path: string): boolean | undefined {
    if (node.kind !== 'scalar' || typeof node.value !== 'boolean') return this.expected(node, path, 'true or false');
    return node.value;
  }

  /** A positive duration with a unit: `500ms`, `2s`, `1m`, `1h`. */
  duration(node: YNode, path: string): number | undefined {
    const v = node.kind === 'scalar' ? node.value : undefined;
    if (typeof v === 'number') {
      return this.expected(node, path, 'a duration with a unit like 500ms or 2s (a bare number has no unit)');
    }
    const ms = typeof v === 'string' ? parseDuration(v) : undefined;
    if (ms === undefined) return this.expected(node, path, 'a duration like 500ms or 2s');
    if (ms <= 0) {
      this.issues.add(path, `must be longer than 0, got ${describe(node)}`);
      return undefined;
    }
    return ms;
  }

  /** A positive size: `16KiB`, `1MiB`, `1GB`, or a bare integer meaning bytes. */
  size(node: YNode, path: string): number | undefined {
    const v = node.kind === 'scalar' ? node.value : undefined;
    const bytes = typeof v === 'string' ? parseSize(v) : typeof v === 'number' && Number.isInteger(v) ? v : undefined;
    if (bytes === undefined) return this.expected(node, path, 'a size like 16KiB or 1MiB');
    if (bytes <= 0) {
      this.issues.add(path, `must be larger than 0, got ${describe(node)}`);
      return undefined;
    }
    return bytes;
  }

  oneOf<T extends string>(node: YNode, path: string, values: readonly T[]): T | undefined {
    const v = node.kind === 'scalar' ? node.value : undefined;
    if (typeof v === 'string' && (values as readonly string[]).includes(v)) return v as T;
    const hint = typeof v === 'string' ? didYouMean(v, values) : '';
    this.issues.add(path, `expected one of ${values.join(', ')}, got ${describe(node)}${hint}`);
    return undefined;
  }

  /** A mapping whose keys must be among `known` (null: any key, e.g. environment variables). */
  map(node: YNode, path: string, known: readonly string[] | null): MapView | undefined {
    if (node.kind !== 'map') return this.expected(node, path, 'a mapping');
    return new MapView(this, node, path, known);
  }

  /** A list; each item's position is remembered as `path[i]`. */
  list(node: YNode, path: string): Item[] | undefined {
    if (node.kind !== 'seq') return this.expected(node, path, 'a list');
    return node.items.map((item, i) => {
      const p = childPath(path, i);
      this.issues.remember(p, item.pos);
      return { node: item, path: p };
    });
  }
}

export interface Item {
  readonly node: YNode;
  readonly path: string;
}

/** One mapping of the file: unknown keys are reported on construction. */
export class MapView {
  private readonly values = new Map<string, YNode>();

  constructor(
    readonly reader: Reader,
    readonly node: YMap,
    readonly path: string,
    known: readonly string[] | null,
  ) {
    const issues = reader.issues;
    for (const e of node.entries) {
      const p = childPath(path, e.key);
      issues.remember(p, e.keyPos);
      if (known !== null && !known.includes(e.key)) {
        const hint = didYouMean(e.key, known);
        const message = e.key === '<<'
          ? 'YAML merge keys (<<) are not supported; repeat the keys or use an alias for the whole value'
          : `unknown key "${e.key}"${hint === '' ? ` (allowed here: ${known.join(', ')})` : hint}`;
        issues.add(p, message, e.keyPos);
        continue;
      }
      this.values.set(e.key, e.value);
    }
  }

  /** Path of a key of this mapping, in YAML spelling. */
  at(key: string): string {
    return childPath(this.path, key);
  }

  has(key: string): boolean {
    return this.values.has(key);
  }

  keys(): string[] {
    return [...this.values.keys()];
  }

  /** The value node, or undefined (reporting a missing required key at this mapping). */
  get(key: string, opt: Opt = {}): YNode | undefined {
    const v = this.values.get(key);
    if (v === undefined && opt.required) this.reader.issues.add(this.at(key), 'required key is missing', this.node.pos);
    return v;
  }

  private read<T>(key: string, opt: Opt, fn: (node: YNode, path: string) => T | undefined): T | undefined {
    const node = this.get(key, opt);
    return node === undefined ? undefined : fn(node, this.at(key));
  }

  str(key: string, opt: Opt = {}): string | undefined {
    return this.read(key, opt, (n, p) => this.reader.string(n, p));
  }
  int(key: string, opt: RangeOpt = {}): number | undefined {
    return this.read(key, opt, (n, p) => this.reader.int(n, p, opt));
  }
  number(key: string, opt: RangeOpt = {}): number | undefined {
    return this.read(key, opt, (n, p) => this.reader.number(n, p, opt));
  }
  port(key: string, opt: Opt = {}): number | undefined {
    return this.read(key, opt, (n, p) => this.reader.port(n, p));
  }
  bool(key: string, opt: Opt = {}): boolean | undefined {
    return this.read(key, opt, (n, p) => this.reader.bool(n, p));
  }
  duration(key: string, opt: Opt = {}): number | undefined {
    return this.read(key, opt, (n, p) => this.reader.duration(n, p));
  }
  size(key: string, opt: Opt = {}): number | undefined {
    return this.read(key, opt, (n, p) => this.reader.size(n, p));
  }
  oneOf<T extends string>(key: string, values: readonly T[], opt: Opt = {}): T | undefined {
    return this.read(key, opt, (n, p) => this.reader.oneOf(n, p, values));
  }
  map(key: string, known: readonly string[] | null, opt: Opt = {}): MapView | undefined {
    return this.read(key, opt, (n, p) => this.reader.map(n, p, known));
  }
  list(key: string, opt: Opt = {}): Item[] | undefined {
    return this.read(key, opt, (n, p) => this.reader.list(n, p));
  }
}
