/**
 * The results model (also written to bench/results.json) and its rendering as aligned text.
 *
 * A cell is a number or null with a reason; nothing is ever printed for a cell that was not
 * measured except "n/a" and a numbered footnote with the reason.
 */

export interface Cell {
  value: number | null;
  /** Why the value is null, or a remark on how it was obtained. */
  note?: string;
  /** Raw per-run values the median was taken from. */
  samples?: number[];
}

/** Extra rows contributed by other modules (bench/lab.ts, identity benchmarks). */
export interface Row {
  section?: string;
  name: string;
  value: number | null;
  unit: string;
  note?: string;
}

export type Matrix = Record<string, Record<string, Cell>>;

export interface Ratio {
  name: string;
  value: number | null;
  note?: string;
}

export interface Target {
  name: string;
  ratio: number | null;
  /** 'max' = ratio must be ≤ bound; 'min' = ratio must be ≥ bound. */
  kind: 'min' | 'max';
  bound: number;
  verdict: 'PASS' | 'FAIL' | 'n/a';
  note?: string;
}

export interface Section {
  key: string;
  title: string;
  unit: string;
  columns: string[];
  counts: number[];
  cells: Matrix;
  /** Ratio columns: [label, numerator column, denominator column]. */
  ratioCols: Array<[string, string, string]>;
  /** Ratios across rule counts, printed under the table. */
  ratios: Ratio[];
}

export interface Results {
  meta: Record<string, unknown>;
  sections: Section[];
  targets: Target[];
  rows: Row[];
}

export function cellOf(m: Matrix, col: string, rules: number): Cell {
  return m[col]?.[String(rules)] ?? { value: null, note: 'not measured' };
}

export function setCell(m: Matrix, col: string, rules: number, c: Cell): void {
  (m[col] ??= {})[String(rules)] = c;
}

export function ratio(a: Cell, b: Cell): number | null {
  return a.value !== null && b.value !== null && b.value > 0 ? a.value / b.value : null;
}

function fmtNum(v: number): string {
  if (v >= 100) return Math.round(v).toLocaleString('en-US');
  if (v >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

export function fmtRatio(v: number | null): string {
  return v === null ? 'n/a' : `${v.toFixed(2)}x`;
}

/** Render everything; footnotes collect the reasons behind every n/a. */
export function render(r: Results): string {
  const notes: string[] = [];
  const foot = (why: string | undefined): string => {
    const text = why ?? 'not measured';
    let i = notes.indexOf(text);
    if (i < 0) i = notes.push(text) - 1;
    return `n/a[${i + 1}]`;
  };
  const out: string[] = [];
  const m = r.meta;
  out.push(`difw benchmark  ${String(m.date)}  kernel ${String(m.kernel)}  ${String(m.cpus)} CPUs  load ${String(m.loadStart)} -> ${String(m.loadEnd)}  commit ${String(m.commit)}`);
  out.push(`cells: median of ${String(m.reps)} runs of ${String(m.seconds)} s (+${String(m.warmup)} s warm-up), firewalls interleaved run by run; see bench/README.md`);
  for (const s of r.sections) {
    out.push('', s.title);
    const header = ['rules', ...s.columns, ...s.ratioCols.map(([l]) => l)];
    const rows: string[][] = [];
    for (const n of s.counts) {
      const row = [n.toLocaleString('en-US')];
      for (const c of s.columns) {
        const cell = cellOf(s.cells, c, n);
        row.push(cell.value === null ? foot(cell.note) : fmtNum(cell.value));
      }
      for (const [, a, b] of s.ratioCols) row.push(fmtRatio(ratio(cellOf(s.cells, a, n), cellOf(s.cells, b, n))));
      rows.push(row);
    }
    out.push(...align([header, ...rows]).map((l) => '  ' + l));
    for (const x of s.ratios) out.push(`  ${x.name} = ${fmtRatio(x.value)}${x.note ? `  (${x.note})` : ''}`);
  }
  if (r.rows.length) {
    out.push('', 'Other measurements');
    const rows = r.rows.map((x) => [x.section ? `${x.section}: ${x.name}` : x.name, x.value === null ? foot(x.note) : fmtNum(x.value), x.unit, x.value === null ? '' : (x.note ?? '')]);
    out.push(...align([['measurement', 'value', 'unit', 'note'], ...rows]).map((l) => '  ' + l));
  }
  if (r.targets.length) {
    out.push('', 'Targets');
    const rows = r.targets.map((t) => [t.name, `${t.kind === 'max' ? '<=' : '>='} ${t.bound}x`, fmtRatio(t.ratio), t.verdict === 'n/a' ? foot(t.note) : t.verdict]);
    out.push(...align(rows).map((l) => '  ' + l));
  }
  if (notes.length) {
    out.push('', 'n/a reasons');
    notes.forEach((n, i) => out.push(`  [${i + 1}] ${n}`));
  }
  return out.join('\n') + '\n';
}

function align(rows: string[][]): string[] {
  const w: number[] = [];
  for (const r of rows) r.forEach((c, i) => (w[i] = Math.max(w[i] ?? 0, c.length)));
  return rows.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ').trimEnd());
}

export function target(name: string, value: number | null, kind: 'min' | 'max', bound: number, note?: string): Target {
  if (value === null) return { name, ratio: null, kind, bound, verdict: 'n/a', note: note ?? 'an input is n/a' };
  const ok = kind === 'max' ? value <= bound : value >= bound;
  return { name, ratio: value, kind, bound, verdict: ok ? 'PASS' : 'FAIL' };
}
