/**
 * Lab benchmarks (identity mode), exported as `benchLab()` for `make bench`:
 *   - new TCP connections/s between two pods on different nodes, with difw enforcing an identity
 *     policy (claims stamped on SYN and SYN-ACK, verified on both sides) versus the same lab with
 *     no datapath at all (agents started with DIFW_LAB_DATAPATH=none: no BPF anywhere). The two
 *     clients take turns on the same core in 200 ms slices (nettool tcp-turns), so both see the
 *     same machine slice by slice; the target row is the median of the per-slice-pair ratios.
 *     The same is measured with pod conntrack sized 262,144 entries instead of the default;
 *   - where the verified lab's time goes: the same turns against labs running the identity
 *     programs cut at one stage (Makefile cost-objs: hooks only; hooks + stamping), and the BPF
 *     run time per connection of each identity program (kernel run-time accounting, on only for
 *     that run);
 *   - apply-to-enforcement: time from the control plane accepting one NetworkPolicy to every node
 *     acknowledging the revision (in-process, the store + compile + push + ack path), and the
 *     wall time of the `difw apply -f` command (adds the CLI's start-up).
 * Lab prefixes: `db` (enforcing), `da` (absent), `dx` (big conntrack), `df` and `ds` (cost stages); every lab is always taken down.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bg, median } from './sh.js';
import { buildNettool, NETTOOL } from './traffic.js';
import { ROOT } from './difw.js';
import type { Row } from './table.js';
import { labConfig } from '../src/lab/config.js';
import { labController } from '../src/lab/runtime.js';
import type { KubeObject } from '../src/controlplane/store.js';
import { POD_CT_ENTRIES } from '../src/policy/netpol/datapath.js';
import { enableRunTimeStats } from '../src/bpf/index.js';

const PREFIX = 'db'; // the lab with difw enforcing
const PREFIX_ABSENT = 'da'; // the same lab with no datapath at all
const PREFIX_BIG_CT = 'dx'; // difw enforcing, pod conntrack sized BIG_CT
/** Cost decomposition labs: the identity programs built with their work cut (Makefile cost-objs). */
const COST_STAGES = [
  { prefix: 'df', dir: 'floor', what: 'hooks only: sockops attached but stamping nothing, TC parsing and passing' },
  { prefix: 'ds', dir: 'stamp', what: 'hooks + claim stamping on SYN and SYN-ACK, TC parsing and passing' },
] as const;
const BIG_CT = 262144;
const SLICE_MS = 200;
const DIFW = join(ROOT, 'bin', 'difw');
const SERVER_IP = '198.19.2.10';
const PORT = 8080;

function difw(args: string[], env: NodeJS.ProcessEnv = {}, input?: string): string {
  const r = spawnSync(DIFW, args, { input, encoding: 'utf8', env: { ...process.env, DIFW_LAB_PREFIX: PREFIX, ...env }, timeout: 120_000 });
  if (r.status !== 0) throw new Error(`difw ${args.join(' ')}: ${(r.stderr || r.stdout).trim().slice(-300)}`);
  return r.stdout;
}

const json = (objs: unknown[]) => objs.map((o) => JSON.stringify(o)).join('\n---\n') + '\n';

function labYaml(): string {
  const pod = (name: string, labels: Record<string, string>, ip: string, node: string) => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'bench', labels, annotations: { 'difw.io/node': node } },
    spec: { containers: [{ name: 'c', ports: [{ name: 'http', containerPort: PORT, protocol: 'TCP' }] }] },
    status: { podIP: ip },
  });
  return json([
    { apiVersion: 'difw.io/v1', kind: 'Lab', metadata: { name: 'bench' }, spec: { nodes: [{ name: 'n1' }, { name: 'n2' }] } },
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'bench' } },
    pod('server', { app: 'server' }, SERVER_IP, 'n2'),
    pod('client', { app: 'client' }, '198.19.1.10', 'n1'),
    pod('other', { app: 'other' }, '198.19.1.11', 'n1'),
  ]);
}

/** Ingress to the server from app=client only; egress of the client to app=server only. */
const policies: KubeObject[] = [
  {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name: 'server-in', namespace: 'bench' },
    spec: { podSelector: { matchLabels: { app: 'server' } }, policyTypes: ['Ingress'], ingress: [{ from: [{ podSelector: { matchLabels: { app: 'client' } } }], ports: [{ port: PORT }] }] },
  },
  {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name: 'client-out', namespace: 'bench' },
    spec: { podSelector: { matchLabels: { app: 'client' } }, policyTypes: ['Egress'], egress: [{ to: [{ podSelector: { matchLabels: { app: 'server' } } }], ports: [{ port: PORT }] }] },
  },
];

interface TurnResult {
  rate: number;
  failed: number;
  cpuUsPerConn: number;
  /** per slice: [connections, ns] */
  slices: [number, number][];
}

/** `nettool tcp-server` in lab `prefix`'s bench/server pod, on core 1, for `seconds`; once ready. */
async function labServer(prefix: string, seconds: number): Promise<ReturnType<typeof bg>> {
  const srv = bg(DIFW, ['lab', 'exec', 'bench/server', '--', 'taskset', '-c', '1', NETTOOL, 'tcp-server', String(PORT), String(seconds)], { ...process.env, DIFW_LAB_PREFIX: prefix });
  await srv.waitLine(/^ready$/, 15_000);
  return srv;
}

/**
 * connections/s from bench/client (n1) to bench/server (n2) in two labs at once: their clients
 * take turns on core 0 (`slices` slices of SLICE_MS each, the first `warm` not counted), both
 * servers listen on core 1. Returns [first, second].
 */
async function connTurns(prefixes: [string, string], slices: number, warm: number): Promise<[TurnResult, TurnResult]> {
  const dir = mkdtempSync(join(tmpdir(), 'difw-turns-'));
  try {
    const fifos = [join(dir, 'a'), join(dir, 'b')];
    for (const f of fifos) {
      const r = spawnSync('mkfifo', ['-m', '600', f]);
      if (r.status !== 0) throw new Error(`mkfifo ${f}: ${String(r.stderr)}`);
    }
    const serveFor = Math.ceil((2 * slices * SLICE_MS) / 1000) + 5;
    const envOf = (p: string) => ({ ...process.env, DIFW_LAB_PREFIX: p });
    const srvs = await Promise.all(prefixes.map((p) => labServer(p, serveFor)));
    const clis = prefixes.map((p, i) =>
      bg(DIFW, ['lab', 'exec', 'bench/client', '--', 'taskset', '-c', '0', NETTOOL, 'tcp-turns', SERVER_IP, String(PORT), String(SLICE_MS), String(slices), String(warm), fifos[i]!, fifos[1 - i]!, i === 0 ? '1' : '0'], envOf(p)),
    );
    const limit = (serveFor + 15) * 1000;
    const outs = await Promise.all([...clis, ...srvs].map((x) => x.done(limit)));
    const parse = (o: { out: string; err: string }): TurnResult => {
      const num = (k: string) => Number(new RegExp(`${k} (\\d+)`).exec(o.out)?.[1] ?? NaN);
      const list = /slices (\S+)/.exec(o.out)?.[1];
      const count = num('conns');
      const ns = num('elapsed_ns');
      if (!Number.isFinite(count) || !ns || !list) throw new Error(`tcp-turns printed ${o.out.trim() || o.err.trim()}`);
      const sl = list.split(',').map((x) => x.split(':').map(Number) as [number, number]);
      return { rate: (count * 1e9) / ns, failed: num('failed'), cpuUsPerConn: num('cpu_ns') / count / 1000, slices: sl };
    };
    return [parse(outs[0]!), parse(outs[1]!)];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Median over slice pairs of (second's rate / first's rate). */
function pairedRatio(a: TurnResult, b: TurnResult): { median: number; q1: number; q3: number } {
  const r = a.slices.map(([n, ns], i) => {
    const [m, ms] = b.slices[i] ?? [0, 1];
    return m / ms / (n / ns);
  });
  const s = [...r].sort((x, y) => x - y);
  return { median: median(r), q1: s[Math.floor(s.length / 4)]!, q3: s[Math.floor((3 * s.length) / 4)]! };
}

/** The programs of the identity datapath, by name (bpf/sockops_claim.bpf.c, bpf/tc_pod.bpf.c). */
const LAB_PROGRAMS = ['difw_claim_sockops', 'pod_from', 'pod_to'] as const;

/** run_cnt and run_time_ns of every loaded program named in LAB_PROGRAMS, by program id. */
function progStats(): Map<number, { name: string; runs: number; ns: number }> {
  const r = spawnSync('bpftool', ['-j', 'prog', 'show'], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`bpftool prog show: ${r.stderr.trim()}`);
  const out = new Map<number, { name: string; runs: number; ns: number }>();
  for (const p of JSON.parse(r.stdout) as { id: number; name?: string; run_cnt?: number; run_time_ns?: number }[]) {
    if (p.name && (LAB_PROGRAMS as readonly string[]).includes(p.name)) out.set(p.id, { name: p.name, runs: p.run_cnt ?? 0, ns: p.run_time_ns ?? 0 });
  }
  return out;
}

interface BpfCost {
  conns: number;
  /** per program name, both nodes together: runs and ns per connection */
  perConn: Map<string, { runs: number; ns: number }>;
}

/**
 * Where the datapath's time goes per connection: the client of lab `prefix` connects and resets
 * for `seconds` (alone, no turns) while the kernel accounts every BPF program's run time
 * (bpf_enable_stats, off again when done); the sums over the lab's programs are divided by the
 * connections made. The accounting itself adds two clock reads to every run.
 */
async function bpfCostPerConn(prefix: string, seconds: number): Promise<BpfCost> {
  const env = { ...process.env, DIFW_LAB_PREFIX: prefix };
  const srv = await labServer(prefix, seconds + 5);
  const off = enableRunTimeStats();
  let before: ReturnType<typeof progStats>;
  let after: ReturnType<typeof progStats>;
  let conns: number;
  try {
    before = progStats();
    const cli = bg(DIFW, ['lab', 'exec', 'bench/client', '--', 'taskset', '-c', '0', NETTOOL, 'tcp-connect', SERVER_IP, String(PORT), String(seconds), '0'], env);
    const o = await cli.done((seconds + 15) * 1000);
    after = progStats();
    conns = Number(/conns (\d+)/.exec(o.out)?.[1] ?? NaN);
    if (!(conns > 0)) throw new Error(`tcp-connect printed ${o.out.trim() || o.err.trim()}`);
  } finally {
    off();
  }
  await srv.done((seconds + 15) * 1000);
  const perConn = new Map<string, { runs: number; ns: number }>();
  for (const [id, a] of after) {
    const b = before.get(id) ?? { runs: 0, ns: 0 };
    if (a.runs === b.runs) continue; // another lab's program, idle
    const t = perConn.get(a.name) ?? { runs: 0, ns: 0 };
    perConn.set(a.name, { runs: t.runs + (a.runs - b.runs) / conns, ns: t.ns + (a.ns - b.ns) / conns });
  }
  return { conns, perConn };
}

const down = (prefix: string) => spawnSync(DIFW, ['lab', 'down'], { env: { ...process.env, DIFW_LAB_PREFIX: prefix } });

export async function benchLab(opts: { slices?: number; applies?: number } = {}): Promise<Row[]> {
  if (process.getuid?.() !== 0) return [{ section: 'lab', name: 'lab benchmarks', value: null, unit: '', note: 'needs root' }];
  const slices = opts.slices ?? 150; // per lab: 30 s of 200 ms slices each
  const warm = 10;
  buildNettool();
  const rows: Row[] = [];
  const applyMs: number[] = [];
  const cliMs: number[] = [];
  let main: [TurnResult, TurnResult] | undefined;
  let big: [TurnResult, TurnResult] | undefined;
  let cost: BpfCost | undefined;
  const labs = [PREFIX, PREFIX_ABSENT, PREFIX_BIG_CT, ...COST_STAGES.map((c) => c.prefix)];
  const costDir = (dir: string) => join(ROOT, 'build', 'cost', dir);
  const stages = COST_STAGES.filter((c) => existsSync(join(costDir(c.dir), 'tc_pod.bpf.o')));
  const staged: { what: string; r: [TurnResult, TurnResult] }[] = [];
  for (const p of labs) down(p);
  try {
    difw(['lab', 'up', '-f', '-'], { DIFW_LAB_PREFIX: PREFIX_ABSENT, DIFW_LAB_DATAPATH: 'none' }, labYaml());
    difw(['lab', 'up', '-f', '-'], {}, labYaml());
    difw(['lab', 'up', '-f', '-'], { DIFW_LAB_PREFIX: PREFIX_BIG_CT, DIFW_POD_CT_ENTRIES: String(BIG_CT) }, labYaml());
    for (const c of stages) difw(['lab', 'up', '-f', '-'], { DIFW_LAB_PREFIX: c.prefix, DIFW_BPF_DIR: costDir(c.dir) }, labYaml());
    const ctl = labController(labConfig(PREFIX));
    await ctl.apply(policies);
    for (const p of [PREFIX_BIG_CT, ...stages.map((c) => c.prefix)]) difw(['apply', '-f', '-'], { DIFW_LAB_PREFIX: p }, json(policies));
    main = await connTurns([PREFIX_ABSENT, PREFIX], slices, warm);
    big = await connTurns([PREFIX_ABSENT, PREFIX_BIG_CT], Math.ceil(slices / 2), warm);
    for (const c of stages) staged.push({ what: c.what, r: await connTurns([PREFIX_ABSENT, c.prefix], Math.ceil(slices / 2), warm) });
    cost = await bpfCostPerConn(PREFIX, 5);
    // apply-to-enforcement: alternate adding and removing one extra policy
    const extra: KubeObject = {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { name: 'deny-other', namespace: 'bench' },
      spec: { podSelector: { matchLabels: { app: 'other' } }, policyTypes: ['Ingress', 'Egress'] },
    };
    const n = opts.applies ?? 10;
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      await ctl.apply([extra]);
      applyMs.push(performance.now() - t0);
      await ctl.delete([extra]);
    }
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      difw(['apply', '-f', '-'], {}, json([extra]));
      cliMs.push(performance.now() - t0);
      difw(['delete', '-f', '-'], {}, json([extra]));
    }
  } finally {
    for (const p of labs) down(p);
  }

  const [a, v] = main;
  const pr = pairedRatio(a, v);
  const pb = pairedRatio(big[0], big[1]);
  const n = a.slices.length;
  rows.push({ section: 'lab', name: 'new TCP conns/s, pod n1 -> pod n2, difw absent', value: Math.round(a.rate), unit: 'conn/s', note: `${n} x ${SLICE_MS} ms slices, in turns with the verified client on the same core` });
  rows.push({ section: 'lab', name: 'new TCP conns/s, pod n1 -> pod n2, identity verified (SYN + SYN-ACK)', value: Math.round(v.rate), unit: 'conn/s', note: `${n} x ${SLICE_MS} ms slices; ${v.failed} failed connects` });
  rows.push({ section: 'lab', name: 'conn rate ratio verified / absent, median of slice pairs (target >= 0.9)', value: Number(pr.median.toFixed(3)), unit: 'x', note: `${pr.median >= 0.9 ? 'PASS' : 'FAIL'}; quartiles ${pr.q1.toFixed(3)} .. ${pr.q3.toFixed(3)}; ratio of the totals ${(v.rate / a.rate).toFixed(3)}` });
  rows.push({ section: 'lab', name: 'client CPU per connection, absent / verified', value: Number((a.cpuUsPerConn / v.cpuUsPerConn).toFixed(3)), unit: 'x', note: `${a.cpuUsPerConn.toFixed(1)} vs ${v.cpuUsPerConn.toFixed(1)} us of the client core per connection (both sides of the handshake run there in softirq)` });
  rows.push({ section: 'lab', name: `same ratio with pod conntrack sized ${BIG_CT} entries (default ${POD_CT_ENTRIES})`, value: Number(pb.median.toFixed(3)), unit: 'x', note: `${big[0].slices.length} slice pairs; quartiles ${pb.q1.toFixed(3)} .. ${pb.q3.toFixed(3)}; ${Math.round(big[0].rate)} vs ${Math.round(big[1].rate)} conn/s` });
  for (const { what, r } of staged) {
    const ps = pairedRatio(r[0], r[1]);
    rows.push({ section: 'lab', name: `cost decomposition, ratio to absent: ${what}`, value: Number(ps.median.toFixed(3)), unit: 'x', note: `${r[0].slices.length} slice pairs; quartiles ${ps.q1.toFixed(3)} .. ${ps.q3.toFixed(3)}; full enforcement is the target row` });
  }
  if (stages.length < COST_STAGES.length) rows.push({ section: 'lab', name: 'cost decomposition', value: null, unit: '', note: 'needs the cost objects (make cost-objs)' });
  if (cost) {
    let total = 0;
    for (const name of LAB_PROGRAMS) {
      const c = cost.perConn.get(name);
      if (!c) continue;
      total += c.ns;
      rows.push({ section: 'lab', name: `BPF run time per connection: ${name} (both nodes)`, value: Math.round(c.ns), unit: 'ns', note: `${c.runs.toFixed(2)} runs per connection, ${(c.ns / c.runs).toFixed(0)} ns per run` });
    }
    rows.push({ section: 'lab', name: 'BPF run time per connection: all identity programs', value: Math.round(total), unit: 'ns', note: `kernel run-time accounting over ${cost.conns} connections of the verified lab alone; it adds two clock reads per run. The rest of the per-connection difference is outside the programs (hook dispatch, cache)` });
  }
  rows.push({ section: 'lab', name: 'apply of one policy -> every node enforces (control plane)', value: Number(median(applyMs).toFixed(1)), unit: 'ms', note: `median of ${applyMs.length}, max ${Math.max(...applyMs).toFixed(1)} ms; target <= 200 ms: ${median(applyMs) <= 200 ? 'PASS' : 'FAIL'}` });
  rows.push({ section: 'lab', name: '`difw apply -f` wall time (CLI start-up included)', value: Number(median(cliMs).toFixed(1)), unit: 'ms', note: `median of ${cliMs.length}` });
  return rows;
}

// `node dist/bench/lab.js` runs it alone
if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/.*\/dist\//, '/dist/'))) {
  benchLab().then(
    (r) => process.stdout.write(JSON.stringify(r, null, 1) + '\n'),
    (e: unknown) => {
      process.stderr.write(`Cannot run the lab benchmark: ${(e as Error).message}\n`);
      process.exitCode = 1;
    },
  );
}
