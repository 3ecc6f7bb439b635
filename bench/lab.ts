/**
 * Lab benchmarks (identity mode), exported as `benchLab()` for `make bench`:
 *   - new TCP connections/s between two pods on different nodes, with difw enforcing an identity
 *     policy (claims stamped on SYN and SYN-ACK, verified on both sides) versus the same lab with
 *     no datapath at all (agents started with DIFW_LAB_DATAPATH=none: no BPF anywhere);
 *   - apply-to-enforcement: time from the control plane accepting one NetworkPolicy to every node
 *     acknowledging the revision (in-process, the store + compile + push + ack path), and the
 *     wall time of the `difw apply -f` command (adds the CLI's start-up).
 * Uses its own lab prefix `db`; the lab is always taken down.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { bg, median } from './sh.js';
import { buildNettool, NETTOOL } from './traffic.js';
import { ROOT } from './difw.js';
import type { Row } from './table.js';
import { labConfig } from '../src/lab/config.js';
import { labController } from '../src/lab/runtime.js';
import type { KubeObject } from '../src/controlplane/store.js';

const PREFIX = 'db'; // the lab with difw enforcing
const PREFIX_ABSENT = 'da'; // the same lab with no datapath at all
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

/** connections/s from bench/client (n1) to bench/server (n2), over `seconds` after `warmup`. */
async function connRate(prefix: string, seconds: number, warmup: number): Promise<{ rate: number; failed: number; cpuUsPerConn: number }> {
  const env = { ...process.env, DIFW_LAB_PREFIX: prefix };
  const serveFor = seconds + warmup + 2;
  const srv = bg(DIFW, ['lab', 'exec', 'bench/server', '--', 'taskset', '-c', '1', NETTOOL, 'tcp-server', String(PORT), String(serveFor)], env);
  await srv.waitLine(/^ready$/, 15_000);
  const cli = bg(DIFW, ['lab', 'exec', 'bench/client', '--', 'taskset', '-c', '0', NETTOOL, 'tcp-connect', SERVER_IP, String(PORT), String(seconds), String(warmup)], env);
  const limit = (serveFor + 15) * 1000;
  const [c] = await Promise.all([cli.done(limit), srv.done(limit)]);
  const num = (k: string) => Number(new RegExp(`${k} (\\d+)`).exec(c.out)?.[1] ?? NaN);
  const count = num('conns');
  const ns = num('elapsed_ns');
  if (!Number.isFinite(count) || !ns) throw new Error(`tcp-connect printed ${c.out.trim() || c.err.trim()}`);
  return { rate: (count * 1e9) / ns, failed: num('failed'), cpuUsPerConn: num('cpu_ns') / count / 1000 };
}

const down = (prefix: string) => spawnSync(DIFW, ['lab', 'down'], { env: { ...process.env, DIFW_LAB_PREFIX: prefix } });

export async function benchLab(opts: { seconds?: number; runs?: number; applies?: number } = {}): Promise<Row[]> {
  if (process.getuid?.() !== 0) return [{ section: 'lab', name: 'lab benchmarks', value: null, unit: '', note: 'needs root' }];
  const seconds = opts.seconds ?? 2;
  const runs = opts.runs ?? 9;
  buildNettool();
  const rows: Row[] = [];

  // Both labs are up at once and the runs alternate (absent, verified, absent, ...), so load
  // from anything else on the machine falls on both sides alike. Each verified run is compared
  // with the absent run just before it: the paired ratio follows the machine's drift (steal
  // time on the shared VM moves both rates by up to 2x within minutes) where two separate
  // medians do not.
  const absent: number[] = [];
  const verified: number[] = [];
  const paired: number[] = [];
  const cpuAbsent: number[] = [];
  const cpuVerified: number[] = [];
  let failed = 0;
  const applyMs: number[] = [];
  const cliMs: number[] = [];
  down(PREFIX);
  down(PREFIX_ABSENT);
  try {
    difw(['lab', 'up', '-f', '-'], { DIFW_LAB_PREFIX: PREFIX_ABSENT, DIFW_LAB_DATAPATH: 'none' }, labYaml());
    difw(['lab', 'up', '-f', '-'], {}, labYaml());
    const ctl = labController(labConfig(PREFIX));
    await ctl.apply(policies);
    for (let i = 0; i < runs; i++) {
      const a = await connRate(PREFIX_ABSENT, seconds, 1);
      const r = await connRate(PREFIX, seconds, 1);
      absent.push(a.rate);
      verified.push(r.rate);
      paired.push(r.rate / a.rate);
      cpuAbsent.push(a.cpuUsPerConn);
      cpuVerified.push(r.cpuUsPerConn);
      failed += r.failed;
    }
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
    down(PREFIX);
    down(PREFIX_ABSENT);
  }

  const a = median(absent);
  const v = median(verified);
  const pr = median(paired);
  const spread = `paired ratios ${[...paired].sort((x, y) => x - y).map((x) => x.toFixed(2)).join(' ')}`;
  rows.push({ section: 'lab', name: 'new TCP conns/s, pod n1 -> pod n2, difw absent', value: Math.round(a), unit: 'conn/s', note: `median of ${runs} x ${seconds} s, alternating with the verified runs` });
  rows.push({ section: 'lab', name: 'new TCP conns/s, pod n1 -> pod n2, identity verified (SYN + SYN-ACK)', value: Math.round(v), unit: 'conn/s', note: `median of ${runs} x ${seconds} s; ${failed} failed connects` });
  rows.push({ section: 'lab', name: 'conn rate ratio verified / absent, median of paired runs (target >= 0.9)', value: Number(pr.toFixed(3)), unit: 'x', note: `${pr >= 0.9 ? 'PASS' : 'FAIL'}; ${spread}; ratio of the two medians ${a ? (v / a).toFixed(3) : 'n/a'}` });
  rows.push({ section: 'lab', name: 'client CPU per connection, absent / verified', value: Number((median(cpuAbsent) / median(cpuVerified)).toFixed(3)), unit: 'x', note: `${median(cpuAbsent).toFixed(1)} vs ${median(cpuVerified).toFixed(1)} us of the client core per connection (both sides of the handshake run there in softirq; steal time is not counted)` });
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
