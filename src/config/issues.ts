/**
 * Collects every problem found in a cluster file, each tied to a key path in YAML spelling
 * (`edge.backends[0].health_check.interval`) and a position, then throws them all at once.
 */
import { BulwarkError } from '../core/errors.js';
import { START, type Pos } from './yaml-positions.js';

export interface Issue {
  readonly pos: Pos;
  readonly path: string;
  readonly message: string;
}

/** `a.b[0].c` → `a.b[0]` → `a.b` → `a` → ``. */
export function parentPath(path: string): string {
  const m = /(\[[^\]]*\]|\.?[^.[\]]+)$/.exec(path);
  return m ? path.slice(0, m.index) : '';
}

/** Path of a child key; keys that are not plain words are written `["like.this"]`. */
export function childPath(parent: string, key: string | number): string {
  if (typeof key === 'number') return `${parent}[${key}]`;
  if (!/^[A-Za-z0-9_-]+$/.test(key)) return `${parent}[${JSON.stringify(key)}]`;
  return parent === '' ? key : `${parent}.${key}`;
}

export class Issues {
  private readonly issues: Issue[] = [];
  /** Where each key (or list item) was written. */
  private readonly positions = new Map<string, Pos>();
  /** Paths that already have a problem: later cross-checks stay quiet about them. */
  private readonly broken = new Set<string>();

  constructor(readonly file: string) {}

  remember(path: string, pos: Pos): void {
    this.positions.set(path, pos);
  }

  /** True when the file spelled out this key (as opposed to a default filling it in). */
  given(path: string): boolean {
    return this.positions.has(path);
  }

  /** Position of the key, or of its nearest written ancestor. */
  posOf(path: string): Pos {
    for (let p = path; ; p = parentPath(p)) {
      const pos = this.positions.get(p);
      if (pos) return pos;
      if (p === '') return START;
    }
  }

  add(path: string, message: string, pos: Pos = this.posOf(path)): void {
    this.issues.push({ pos, path, message });
    this.broken.add(path);
  }

  /** True when this path or one of its ancestors already has a problem. */
  isBroken(path: string): boolean {
    for (let p = path; ; p = parentPath(p)) {
      if (this.broken.has(p)) return true;
      if (p === '') return false;
    }
  }

  /** Like add, unless any of `paths` (default: path) is already broken. */
  check(path: string, message: string, related: readonly string[] = [path]): void {
    if ([path, ...related].some((p) => this.isBroken(p))) return;
    this.add(path, message);
  }

  lines(): string[] {
    return [...this.issues]
      .sort((a, b) => a.pos.line - b.pos.line || a.pos.col - b.pos.col)
      .map((i) => `${this.file}:${i.pos.line}:${i.pos.col}: ${i.path === '' ? '' : `${i.path}: `}${i.message}`);
  }

  throwIfAny(): void {
    if (this.issues.length === 0) return;
    const n = this.issues.length;
    throw new BulwarkError('BWK_CONFIG_INVALID', `${this.file}: ${n} problem${n === 1 ? '' : 's'}`, this.lines());
  }
}
