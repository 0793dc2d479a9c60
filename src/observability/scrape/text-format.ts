/**
 * Parser of the Prometheus text exposition format (version 0.0.4): what every node's GET /metrics
 * serves. Small enough to own rather than depend on: comments give each family its TYPE, sample
 * lines are `name{label="value",…} value [timestamp]`. Label values may hold escaped `\\`, `\"`
 * and `\n`; values may be NaN, +Inf, -Inf. A malformed line is reported with its line number
 * instead of being skipped silently, so a node serving garbage shows up as a scrape error.
 */

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';

export interface Sample {
  /** Full sample name (`…_bucket`, `…_sum`, `…_count` for histograms). */
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface Exposition {
  readonly samples: Sample[];
  /** TYPE of each family, by family name. */
  readonly types: ReadonlyMap<string, MetricType>;
}

export class TextFormatError extends Error {
  constructor(readonly line: number, message: string) {
    super(`line ${line}: ${message}`);
  }
}

const NAME = /[a-zA-Z_:][a-zA-Z0-9_:]*/y;
const LABEL_NAME = /[a-zA-Z_][a-zA-Z0-9_]*/y;
const TYPES: readonly MetricType[] = ['counter', 'gauge', 'histogram', 'summary', 'untyped'];

export function parseTextFormat(text: string): Exposition {
  const samples: Sample[] = [];
  const types = new Map<string, MetricType>();
  let lineNo = 0;
  let start = 0;
  while (start <= text.length) {
    let end = text.indexOf('\n', start);
    if (end === -1) end = text.length;
    lineNo++;
    const line = text.slice(start, end).trim();
    start = end + 1;
    if (line === '') continue;
    if (line.startsWith('#')) {
      const m = /^#\s*TYPE\s+(\S+)\s+(\S+)\s*$/.exec(line);
      if (m) {
        const type = m[2] as MetricType;
        if (!TYPES.includes(type)) throw new TextFormatError(lineNo, `unknown metric type ${JSON.stringify(m[2])}`);
        types.set(m[1]!, type);
      }
      continue;
    }
    samples.push(parseSampleLine(line, lineNo));
  }
  return { samples, types };
}

function parseSampleLine(line: string, lineNo: number): Sample {
  NAME.lastIndex = 0;
  const nm = NAME.exec(line);
  if (!nm) throw new TextFormatError(lineNo, `expected a metric name, got ${JSON.stringify(line.slice(0, 40))}`);
  const name = nm[0];
  let i = nm[0].length;
  const labels: Record<string, string> = {};
  if (line[i] === '{') {
    i++;
    for (;;) {
      while (line[i] === ' ') i++;
      if (line[i] === '}') {
        i++;
        break;
      }
      LABEL_NAME.lastIndex = i;
      const ln = LABEL_NAME.exec(line);
      if (!ln) throw new TextFormatError(lineNo, `expected a label name at column ${i + 1}`);
      i += ln[0].length;
      while (line[i] === ' ') i++;
      if (line[i] !== '=') throw new TextFormatError(lineNo, `expected = after label ${ln[0]}`);
      i++;
      while (line[i] === ' ') i++;
      if (line[i] !== '"') throw new TextFormatError(lineNo, `expected a quoted value for label ${ln[0]}`);
      i++;
      let value = '';
      for (;;) {
        const c = line[i];
        if (c === undefined) throw new TextFormatError(lineNo, `unterminated value of label ${ln[0]}`);
        if (c === '"') break;
        if (c === '\\') {
          const n = line[i + 1];
          value += n === 'n' ? '\n' : n === '\\' ? '\\' : n === '"' ? '"' : `\\${n ?? ''}`;
          i += 2;
          continue;
        }
        value += c;
        i++;
      }
      i++;
      labels[ln[0]] = value;
      while (line[i] === ' ') i++;
      if (line[i] === ',') i++;
      else if (line[i] !== '}') throw new TextFormatError(lineNo, `expected , or } after label ${ln[0]}`);
    }
  }
  const rest = line.slice(i).trim().split(/\s+/);
  if (rest.length < 1 || rest[0] === '' || rest.length > 2) throw new TextFormatError(lineNo, `expected a value (and an optional timestamp) after ${name}`);
  const value = parseValue(rest[0]!);
  if (value === undefined) throw new TextFormatError(lineNo, `${JSON.stringify(rest[0])} is not a number`);
  return { name, labels, value };
}

function parseValue(text: string): number | undefined {
  // Any case, as Prometheus reads them (Go's ParseFloat): prom-client writes NaN as "Nan".
  switch (text.toLowerCase()) {
    case 'nan': return NaN;
    case '+inf': case 'inf': case '+infinity': case 'infinity': return Infinity;
    case '-inf': case '-infinity': return -Infinity;
  }
  const v = Number(text);
  return text !== '' && !Number.isNaN(v) ? v : undefined;
}
