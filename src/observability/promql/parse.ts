/**
 * The alert-rule expression language: a subset of PromQL, so a rule means in Bulwark what it means
 * in Prometheus and `bulwark monitor export` hands it over unchanged. What is accepted is exactly
 * what evaluate.ts implements (docs/monitoring.md lists it); anything else is a parse error that
 * names the column, never a silently different meaning.
 *
 * Grammar, lowest precedence first (PromQL's):
 *   or  <  and, unless  <  == != > < >= <= [bool]  <  + -  <  * / %  <  ^ (right)  <  unary -
 * operands: number, "string", selector `name{l="v", l!="v", l=~"re", l!~"re"}` with an optional
 * range `[5m]`, function call `f(args)`, aggregation `sum|min|max|avg|count [by|without (l, …)] (e)`
 * (the clause may also follow the parentheses), `( e )`. Vector matching: `on(l, …)` and
 * `ignoring(l, …)` after an operator.
 */
import { parseDuration } from '../../core/units.js';

export type MatchOp = '=' | '!=' | '=~' | '!~';
export interface Matcher {
  readonly label: string;
  readonly op: MatchOp;
  readonly value: string;
}

export type AggOp = 'sum' | 'min' | 'max' | 'avg' | 'count';
export type BinOp = 'or' | 'and' | 'unless' | '==' | '!=' | '>' | '<' | '>=' | '<=' | '+' | '-' | '*' | '/' | '%' | '^';

export type Expr =
  | { readonly type: 'number'; readonly value: number }
  | { readonly type: 'string'; readonly value: string }
  | { readonly type: 'selector'; readonly name: string | undefined; readonly matchers: readonly Matcher[]; readonly rangeMs?: number }
  | { readonly type: 'call'; readonly fn: string; readonly args: readonly Expr[] }
  | { readonly type: 'agg'; readonly op: AggOp; readonly grouping: { readonly without: boolean; readonly labels: readonly string[] } | undefined; readonly expr: Expr }
  | { readonly type: 'binary'; readonly op: BinOp; readonly lhs: Expr; readonly rhs: Expr; readonly bool: boolean;
      readonly matching: { readonly on: boolean; readonly labels: readonly string[] } | undefined }
  | { readonly type: 'neg'; readonly expr: Expr }
  | { readonly type: 'paren'; readonly expr: Expr };

export class ExprError extends Error {
  constructor(readonly column: number, message: string) {
    super(`at column ${column}: ${message}`);
  }
}

/** Argument kinds of every supported function: v = instant vector, m = range vector, s = scalar. */
export const FUNCTIONS: Readonly<Record<string, { readonly args: string; readonly returns: 'vector' | 'scalar' }>> = {
  rate: { args: 'm', returns: 'vector' },
  irate: { args: 'm', returns: 'vector' },
  increase: { args: 'm', returns: 'vector' },
  delta: { args: 'm', returns: 'vector' },
  changes: { args: 'm', returns: 'vector' },
  resets: { args: 'm', returns: 'vector' },
  avg_over_time: { args: 'm', returns: 'vector' },
  min_over_time: { args: 'm', returns: 'vector' },
  max_over_time: { args: 'm', returns: 'vector' },
  sum_over_time: { args: 'm', returns: 'vector' },
  count_over_time: { args: 'm', returns: 'vector' },
  histogram_quantile: { args: 'sv', returns: 'vector' },
  abs: { args: 'v', returns: 'vector' },
  ceil: { args: 'v', returns: 'vector' },
  floor: { args: 'v', returns: 'vector' },
  clamp_min: { args: 'vs', returns: 'vector' },
  clamp_max: { args: 'vs', returns: 'vector' },
  absent: { args: 'v', returns: 'vector' },
  vector: { args: 's', returns: 'vector' },
  scalar: { args: 'v', returns: 'scalar' },
  time: { args: '', returns: 'scalar' },
};

const AGGS: readonly AggOp[] = ['sum', 'min', 'max', 'avg', 'count'];
const UNSUPPORTED = new Set(['offset', 'group_left', 'group_right', 'topk', 'bottomk', 'quantile', 'stddev', 'stdvar', 'count_values', 'group', '@']);

type Tok =
  | { k: 'num'; v: number; col: number }
  | { k: 'str'; v: string; col: number }
  | { k: 'id'; v: string; col: number }
  | { k: 'dur'; v: number; text: string; col: number }
  | { k: 'op'; v: string; col: number }
  | { k: 'end'; col: number };

function lex(src: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    const col = i + 1;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === '#') break; // PromQL comment to end of line: rules are one expression
    if (c === '"' || c === "'") {
      let v = '';
      i++;
      for (;;) {
        const d = src[i];
        if (d === undefined) throw new ExprError(col, 'unterminated string');
        if (d === c) break;
        if (d === '\\') {
          const n = src[i + 1];
          v += n === 'n' ? '\n' : n === 't' ? '\t' : n ?? '';
          i += 2;
          continue;
        }
        v += d;
        i++;
      }
      i++;
      out.push({ k: 'str', v, col });
      continue;
    }
    if (c === '[') {
      const end = src.indexOf(']', i);
      if (end === -1) throw new ExprError(col, 'unterminated range: expected ]');
      const text = src.slice(i + 1, end).trim();
      const ms = parseRange(text);
      if (ms === undefined) throw new ExprError(col, `${JSON.stringify(text)} is not a range like 5m or 30s${text.includes(':') ? ' (subqueries are not supported)' : ''}`);
      out.push({ k: 'dur', v: ms, text, col });
      i = end + 1;
      continue;
    }
    const num = /^(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?/.exec(src.slice(i));
    if (num) {
      out.push({ k: 'num', v: Number(num[0]), col });
      i += num[0].length;
      continue;
    }
    const id = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(src.slice(i));
    if (id) {
      out.push({ k: 'id', v: id[0], col });
      i += id[0].length;
      continue;
    }
    const op = /^(?:==|!=|>=|<=|=~|!~|[-+*/%^<>=(){},@])/.exec(src.slice(i));
    if (op) {
      out.push({ k: 'op', v: op[0], col });
      i += op[0].length;
      continue;
    }
    throw new ExprError(col, `unexpected character ${JSON.stringify(c)}`);
  }
  out.push({ k: 'end', col: src.length + 1 });
  return out;
}

/** `5m`, `1h30m`, `500ms`: PromQL durations (units ms s m h d w y, concatenated largest first). */
export function parseRange(text: string): number | undefined {
  if (!/^(?:\d+(?:ms|s|m|h|d|w|y))+$/.test(text)) return undefined;
  let ms = 0;
  for (const m of text.matchAll(/(\d+)(ms|s|m|h|d|w|y)/g)) {
    const unit = m[2]!;
    ms += unit === 'w' ? Number(m[1]) * 7 * 86_400_000 : unit === 'y' ? Number(m[1]) * 365 * 86_400_000 : parseDuration(`${m[1]}${unit}`)!;
  }
  return ms > 0 ? ms : undefined;
}

/** The comparison operators (filters, or 0/1 with `bool`). */
export const COMPARISONS: ReadonlySet<string> = new Set(['==', '!=', '>', '<', '>=', '<=']);

const LEVELS: readonly (readonly string[])[] = [['or'], ['and', 'unless'], [...COMPARISONS], ['+', '-'], ['*', '/', '%']];

class Parser {
  private i = 0;
  constructor(private readonly toks: Tok[]) {}

  private get t(): Tok {
    return this.toks[this.i]!;
  }
  private isOp(v: string): boolean {
    return (this.t.k === 'op' || this.t.k === 'id') && (this.t as { v: string }).v === v;
  }
  private expect(v: string, what = JSON.stringify(v)): void {
    if (!this.isOp(v)) throw new ExprError(this.t.col, `expected ${what}, got ${show(this.t)}`);
    this.i++;
  }

  parseAll(): Expr {
    const e = this.binary(0);
    if (this.t.k !== 'end') throw new ExprError(this.t.col, `unexpected ${show(this.t)} after a complete expression`);
    return e;
  }

  private binary(level: number): Expr {
    if (level === LEVELS.length) return this.power();
    let lhs = this.binary(level + 1);
    for (;;) {
      const t = this.t;
      if ((t.k === 'id' || t.k === 'op') && UNSUPPORTED.has(t.v)) throw new ExprError(t.col, `${t.v} is not supported in Bulwark rules`);
      if ((t.k !== 'op' && t.k !== 'id') || !LEVELS[level]!.includes(t.v)) return lhs;
      this.i++;
      const { bool, matching } = this.modifiers(t.v as BinOp);
      const rhs = this.binary(level + 1);
      lhs = { type: 'binary', op: t.v as BinOp, lhs, rhs, bool, matching };
    }
  }

  private power(): Expr {
    const base = this.unary();
    if (!this.isOp('^')) return base;
    this.i++;
    const { bool, matching } = this.modifiers('^');
    return { type: 'binary', op: '^', lhs: base, rhs: this.power(), bool, matching };
  }

  private modifiers(op: BinOp): { bool: boolean; matching: { on: boolean; labels: string[] } | undefined } {
    let bool = false;
    if (this.isOp('bool')) {
      if (!COMPARISONS.has(op)) throw new ExprError(this.t.col, '"bool" only follows a comparison');
      bool = true;
      this.i++;
    }
    let matching: { on: boolean; labels: string[] } | undefined;
    if (this.isOp('on') || this.isOp('ignoring')) {
      const on = this.isOp('on');
      this.i++;
      matching = { on, labels: this.labelList() };
    }
    if (this.t.k === 'id' && UNSUPPORTED.has(this.t.v)) throw new ExprError(this.t.col, `${this.t.v} is not supported (one-to-one matching only)`);
    return { bool, matching };
  }

  private labelList(): string[] {
    this.expect('(');
    const labels: string[] = [];
    while (!this.isOp(')')) {
      const t = this.t;
      if (t.k !== 'id') throw new ExprError(t.col, `expected a label name, got ${show(t)}`);
      labels.push(t.v);
      this.i++;
      if (this.isOp(',')) this.i++;
      else if (!this.isOp(')')) throw new ExprError(this.t.col, `expected , or ), got ${show(this.t)}`);
    }
    this.i++;
    return labels;
  }

  private unary(): Expr {
    if (this.isOp('-')) {
      this.i++;
      return { type: 'neg', expr: this.unary() };
    }
    if (this.isOp('+')) {
      this.i++;
      return this.unary();
    }
    return this.operand();
  }

  private operand(): Expr {
    const t = this.t;
    if (t.k === 'num') {
      this.i++;
      return { type: 'number', value: t.v };
    }
    if (t.k === 'str') {
      this.i++;
      return { type: 'string', value: t.v };
    }
    if (t.k === 'op' && t.v === '(') {
      this.i++;
      const expr = this.binary(0);
      this.expect(')');
      return this.rangeAfter({ type: 'paren', expr });
    }
    if (t.k === 'op' && t.v === '{') return this.rangeAfter(this.selector(undefined));
    if (t.k === 'id') {
      if (t.v === 'Inf' || t.v === 'NaN') {
        this.i++;
        return { type: 'number', value: t.v === 'Inf' ? Infinity : NaN };
      }
      if (UNSUPPORTED.has(t.v)) throw new ExprError(t.col, `${t.v} is not supported in Bulwark rules`);
      if ((AGGS as readonly string[]).includes(t.v)) return this.aggregation(t.v as AggOp);
      const next = this.toks[this.i + 1]!;
      if (next.k === 'op' && next.v === '(') {
        const fn = FUNCTIONS[t.v];
        if (!fn) throw new ExprError(t.col, `unknown or unsupported function ${t.v}() (supported: ${Object.keys(FUNCTIONS).join(', ')})`);
        this.i += 2;
        const args: Expr[] = [];
        while (!this.isOp(')')) {
          args.push(this.binary(0));
          if (this.isOp(',')) this.i++;
          else if (!this.isOp(')')) throw new ExprError(this.t.col, `expected , or ), got ${show(this.t)}`);
        }
        this.i++;
        if (args.length !== fn.args.length) throw new ExprError(t.col, `${t.v}() takes ${fn.args.length} argument${fn.args.length === 1 ? '' : 's'}, got ${args.length}`);
        fn.args.split('').forEach((kind, n) => checkArg(t.v, kind, args[n]!, t.col));
        return { type: 'call', fn: t.v, args };
      }
      this.i++;
      return this.rangeAfter(this.isOp('{') ? this.selector(t.v) : { type: 'selector', name: t.v, matchers: [] });
    }
    throw new ExprError(t.col, `expected a number, metric, function or "(", got ${show(t)}`);
  }

  private rangeAfter(e: Expr): Expr {
    if (this.t.k !== 'dur') return e;
    if (e.type !== 'selector') throw new ExprError(this.t.col, 'a range [..] only follows a metric selector (subqueries are not supported)');
    const rangeMs = this.t.v;
    this.i++;
    return { ...e, rangeMs };
  }

  private selector(name: string | undefined): Expr {
    const open = this.t.col;
    this.expect('{');
    const matchers: Matcher[] = [];
    while (!this.isOp('}')) {
      const l = this.t;
      if (l.k !== 'id') throw new ExprError(l.col, `expected a label name, got ${show(l)}`);
      this.i++;
      const op = this.t;
      if (op.k !== 'op' || !['=', '!=', '=~', '!~'].includes(op.v)) throw new ExprError(op.col, `expected =, !=, =~ or !~ after ${l.v}, got ${show(op)}`);
      this.i++;
      const v = this.t;
      if (v.k !== 'str') throw new ExprError(v.col, `expected a quoted value for ${l.v}, got ${show(v)}`);
      this.i++;
      if (op.v === '=~' || op.v === '!~') {
        try {
          new RegExp(`^(?:${v.v})$`);
        } catch (err) {
          throw new ExprError(v.col, `bad regular expression: ${(err as Error).message}`);
        }
      }
      matchers.push({ label: l.v, op: op.v as MatchOp, value: v.v });
      if (this.isOp(',')) this.i++;
      else if (!this.isOp('}')) throw new ExprError(this.t.col, `expected , or }, got ${show(this.t)}`);
    }
    this.i++;
    const nameMatcher = matchers.find((m) => m.label === '__name__' && m.op === '=');
    const metric = name ?? nameMatcher?.value;
    if (metric === undefined) throw new ExprError(open, 'a selector needs a metric name');
    return { type: 'selector', name: metric, matchers: matchers.filter((m) => m !== nameMatcher) };
  }

  private aggregation(op: AggOp): Expr {
    this.i++;
    let grouping = this.grouping();
    this.expect('(', `"(" after ${op}`);
    const expr = this.binary(0);
    if (this.isOp(',')) throw new ExprError(this.t.col, `${op} takes one argument`);
    this.expect(')');
    if (!grouping) grouping = this.grouping();
    return { type: 'agg', op, grouping, expr };
  }

  private grouping(): { without: boolean; labels: string[] } | undefined {
    if (!this.isOp('by') && !this.isOp('without')) return undefined;
    const without = this.isOp('without');
    this.i++;
    return { without, labels: this.labelList() };
  }
}

function checkArg(fn: string, kind: string, arg: Expr, col: number): void {
  const isRange = arg.type === 'selector' && arg.rangeMs !== undefined;
  if (kind === 'm' && !isRange) throw new ExprError(col, `${fn}() needs a range vector like metric[5m]`);
  if (kind !== 'm' && isRange) throw new ExprError(col, `${fn}() does not take a range vector`);
  if (kind === 's' && typeOf(arg) !== 'scalar') throw new ExprError(col, `${fn}() needs a number here`);
  if (kind === 'v' && typeOf(arg) !== 'vector') throw new ExprError(col, `${fn}() needs an instant vector here`);
}

/** Static result type of an expression. */
export function typeOf(e: Expr): 'scalar' | 'vector' | 'matrix' | 'string' {
  switch (e.type) {
    case 'number': return 'scalar';
    case 'string': return 'string';
    case 'selector': return e.rangeMs === undefined ? 'vector' : 'matrix';
    case 'call': return FUNCTIONS[e.fn]!.returns;
    case 'agg': return 'vector';
    case 'neg': case 'paren': return typeOf(e.expr);
    case 'binary': return typeOf(e.lhs) === 'scalar' && typeOf(e.rhs) === 'scalar' ? 'scalar' : 'vector';
  }
}

function show(t: Tok): string {
  switch (t.k) {
    case 'end': return 'the end';
    case 'num': return String(t.v);
    case 'str': return JSON.stringify(t.v);
    case 'dur': return `[${t.text}]`;
    default: return JSON.stringify(t.v);
  }
}

/** Parse and type-check one expression; throws ExprError naming the column. */
export function parseExpr(src: string): Expr {
  if (src.trim() === '') throw new ExprError(1, 'the expression is empty');
  const e = new Parser(lex(src)).parseAll();
  check(e);
  const t = typeOf(e);
  if (t === 'matrix') throw new ExprError(1, 'a range vector cannot be the result; wrap it in a function like rate()');
  if (t === 'string') throw new ExprError(1, 'a string cannot be the result');
  return e;
}

function check(e: Expr): void {
  switch (e.type) {
    case 'binary': {
      check(e.lhs);
      check(e.rhs);
      const l = typeOf(e.lhs);
      const r = typeOf(e.rhs);
      if (l === 'matrix' || r === 'matrix') throw new ExprError(1, `a range vector cannot be an operand of ${e.op}; wrap it in a function like rate()`);
      if (l === 'string' || r === 'string') throw new ExprError(1, `a string cannot be an operand of ${e.op}`);
      if (['and', 'or', 'unless'].includes(e.op) && (l !== 'vector' || r !== 'vector')) throw new ExprError(1, `${e.op} needs vectors on both sides`);
      if (l === 'scalar' && r === 'scalar' && COMPARISONS.has(e.op) && !e.bool) {
        throw new ExprError(1, `comparing two numbers needs "bool" (like 1 > bool 0)`);
      }
      return;
    }
    case 'agg':
      check(e.expr);
      if (typeOf(e.expr) !== 'vector') throw new ExprError(1, `${e.op}() needs an instant vector`);
      return;
    case 'call': e.args.forEach(check); return;
    case 'neg': case 'paren': check(e.expr); return;
    default: return;
  }
}

/** Every metric read by the expression and the longest range it is read over (0: instant only). */
export function metricRanges(e: Expr, out = new Map<string, number>()): Map<string, number> {
  switch (e.type) {
    case 'selector':
      if (e.name) out.set(e.name, Math.max(out.get(e.name) ?? 0, e.rangeMs ?? 0));
      break;
    case 'call': e.args.forEach((a) => metricRanges(a, out)); break;
    case 'agg': case 'neg': case 'paren': metricRanges(e.expr, out); break;
    case 'binary': metricRanges(e.lhs, out); metricRanges(e.rhs, out); break;
    default: break;
  }
  return out;
}
