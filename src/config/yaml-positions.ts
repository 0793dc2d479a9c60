/**
 * YAML text → a small tree that remembers where every key and value sits (1-based line:col), so
 * every later error can name `file:line:col`. Syntax errors throw BWK_CONFIG_SYNTAX here.
 */
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, type Document } from 'yaml';
import { BulwarkError } from '../core/errors.js';

export interface Pos {
  readonly line: number;
  readonly col: number;
}

export type YNode = YMap | YSeq | YScalar;

export interface YMap {
  readonly kind: 'map';
  readonly pos: Pos;
  readonly entries: readonly YEntry[];
}

export interface YEntry {
  readonly key: string;
  readonly keyPos: Pos;
  readonly value: YNode;
}

export interface YSeq {
  readonly kind: 'seq';
  readonly pos: Pos;
  readonly items: readonly YNode[];
}

export interface YScalar {
  readonly kind: 'scalar';
  readonly pos: Pos;
  /** string, number, boolean or null as the YAML 1.2 core schema reads it (anything else for tagged values). */
  readonly value: unknown;
}

export const START: Pos = { line: 1, col: 1 };

/** Parses one YAML document. Returns undefined for an empty document. */
export function parseYamlWithPositions(text: string, file: string): YNode | undefined {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw syntaxError(file, doc.errors.map((e) => ({
      pos: e.linePos?.[0] ?? START,
      message: e.message.replace(/ at line \d+, column \d+:[\s\S]*$/, ''),
    })));
  }
  if (doc.contents === null) return undefined;
  return new Converter(doc, lineCounter, file).convert(doc.contents, new Set());
}

/** Message: where the first problem is; details: every problem as `file:line:col: message`. */
function syntaxError(file: string, problems: { pos: Pos; message: string }[]): BulwarkError {
  const lines = problems.map((p) => `${file}:${p.pos.line}:${p.pos.col}: ${p.message}`);
  const first = problems[0]!.pos;
  const more = problems.length > 1 ? ` (and ${problems.length - 1} more problem${problems.length > 2 ? 's' : ''})` : '';
  return new BulwarkError('BWK_CONFIG_SYNTAX', `${file}:${first.line}:${first.col}: not valid YAML${more}`, lines);
}

class Converter {
  constructor(
    private readonly doc: Document,
    private readonly lines: LineCounter,
    private readonly file: string,
  ) {}

  private pos(range: readonly number[] | null | undefined): Pos {
    return range ? this.lines.linePos(range[0]!) : START;
  }

  convert(node: unknown, resolving: Set<unknown>): YNode {
    if (isAlias(node)) {
      const target = node.resolve(this.doc);
      if (!target || resolving.has(target)) {
        const p = this.pos(node.range);
        const why = target ? 'refers to itself' : 'has no matching anchor';
        throw syntaxError(this.file, [{ pos: p, message: `alias *${node.source} ${why}` }]);
      }
      resolving.add(target);
      try {
        return this.convert(target, resolving);
      } finally {
        resolving.delete(target);
      }
    }
    if (isMap(node)) {
      const entries: YEntry[] = node.items.map((pair) => {
        const keyNode = pair.key;
        const key = isScalar(keyNode) ? String(keyNode.value) : '[complex key]';
        const keyPos = isScalar(keyNode) || isMap(keyNode) || isSeq(keyNode) ? this.pos(keyNode.range) : this.pos(node.range);
        const value = pair.value === null || pair.value === undefined
          ? { kind: 'scalar' as const, pos: keyPos, value: null }
          : this.convert(pair.value, resolving);
        return { key, keyPos, value };
      });
      return { kind: 'map', pos: this.pos(node.range), entries };
    }
    if (isSeq(node)) {
      const items = node.items.map((item) => this.convert(item, resolving));
      return { kind: 'seq', pos: this.pos(node.range), items };
    }
    if (isScalar(node)) return { kind: 'scalar', pos: this.pos(node.range), value: node.value };
    return { kind: 'scalar', pos: START, value: null };
  }
}
