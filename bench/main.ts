/**
 * `make bench`: difw against real peers, measured side by side in one run.
 *
 *   1. XDP per-packet cost (BPF_PROG_TEST_RUN): difw vs xdp-filter at 10 / 1,000 / 10,000 rules
 *   2. UDP packets/s through a veth: none, difw, iptables, nftables, ufw at each rule count
 *   3. New TCP connections/s: the same matrix
 *   4. Rows other modules expose (bench/lab.ts `benchLab()`, identity `bench*` exports)
 *
 * Prints one aligned table and writes bench/results.json. A cell that cannot be measured is
 * "n/a" with its reason; no number is ever made up. Environment knobs (all optional):
 *   BENCH_SECONDS (1)  BENCH_REPS (5)  BENCH_WARMUP (0.3)  BENCH_RULES (10,1000,10000)
 *   BENCH_ONLY (testrun,pps,cps,extra)  BENCH_FIREWALLS (none,xdp-filter,difw,iptables,nftables,ufw)
 *   BENCH_REPEAT (1000000 BPF_PROG_TEST_RUN repetitions per round)
 * Everything the run creates (namespaces, processes, mounts, /etc/ufw changes) is undone in a
 * finally block and on SIGINT/SIGTERM.
 */
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { cleanupAll, median, trySh } from './sh.js';
import { createPair, kernelRelease, removeStale, type Pair } from './topo.js';
import { FIREWALLS, ufwPrepare, type Firewall } from './firewalls.js';
import { buildNettool, tcpCell, udpCell } from './traffic.js';
import { controlOk, progRun, verdictOk, xdpFilterSeries } from './testrun.js';
import { difwSetup, difwTimings, difwUnavailable, ROOT } from './difw.js';
import { denySources, FLOW_PORT } from './rules.js';
import { cellOf, ratio, render, setCell, target, type Matrix, type Results, type Row, type Section } from './table.js';
import { restoreStaleBackup, UFW_LOCK } from './ufw.js';

const env = process.env;
const SECONDS = Number(env.BENCH_SECONDS ?? 1);
const REPS = Math.max(1, Number(env.BENCH_REPS ?? 5));
const WARMUP = Number(env.BENCH_WARMUP ?? 0.3);
const REPEAT = Number(env.BENCH_REPEAT ?? 1_000_000);
const COUNTS = (env.BENCH_RULES ?? '10,1000,10000').split(',').map(Number).filter((n) => n >= 1);
const ONLY = new Set((env.BENCH_ONLY ?? 'testrun,pps,cps,extra').split(','));
const WANT_FW = new Set((env.BENCH_FIREWALLS ?? 'none,xdp-filter,difw,iptables,nftables,ufw').split(','));
const LO = Math.min(...COUNTS);
const HI = Math.max(...COUNTS);

const log = (s: string): void => void process.stderr.write(`bench: ${s}\n`);
const msg = (e: unknown): string => (e instanceof Error ? e.message : String(e)).replace(/\s+/g, ' ').slice(0, 300);

let pairNo = 0;
const nextK = (): number => 10 + (pairNo++ % 200);

// ---- 1. BPF_PROG_TEST_RUN ---------------------------------------------------------------------

async function testRunSection(): Promise<Section> {
  const cells: Matrix = {};
  const rounds = 5;
  // xdp-filter: one pair, rules added incrementally.
  let p: Pair | null = null;
  try {
    p = createPair('xdpf', nextK());
    const pair = p;
    xdpFilterSeries(pair, COUNTS, (rules, id) => {
      const r = progRun(pair, id, REPEAT, rounds);
      const bad = verdictOk(r) ?? controlOk(pair, id);
      setCell(cells, 'xdp-filter', rules, bad ? { value: null, note: `xdp-filter ${bad}` } : { value: r.ns, samples: r.samples });
      log(`test-run xdp-filter @${rules}: ${r.ns} ns (verdict ${r.retval})`);
    });
  } catch (e) {
    for (const n of COUNTS) if (!cells['xdp-filter']?.[n]) setCell(cells, 'xdp-filter', n, { value: null, note: `xdp-filter: ${msg(e)}` });
  } finally {
    await p?.destroy();
  }
  // difw: a fresh namespace per rule count, rules loaded with the CLI.
  const why = difwUnavailable();
  for (const rules of COUNTS) {
    if (why) {
      setCell(cells, 'difw', rules, { value: null, note: `difw: ${why}` });
      continue;
    }
    let q: Pair | null = null;
    try {
      q = createPair('difwtr', nextK());
      const lines = ['default allow incoming', ...denySources(rules - 1).map((a) => `deny from ${a}`), `deny ${FLOW_PORT}/udp`];
      const { xdpProgId, enableMs, batchMs } = difwSetup(q, lines, 'xdp');
      log(`test-run difw @${rules}: enable ${enableMs} ms, batch ${batchMs} ms`);
      const r = progRun(q, xdpProgId, REPEAT, rounds);
      const bad = verdictOk(r) ?? controlOk(q, xdpProgId);
      setCell(cells, 'difw', rules, bad ? { value: null, note: `difw ${bad}` } : { value: r.ns, samples: r.samples });
      log(`test-run difw @${rules}: ${r.ns} ns (verdict ${r.retval})`);
    } catch (e) {
      setCell(cells, 'difw', rules, { value: null, note: `difw: ${msg(e)}` });
      log(`test-run difw @${rules}: ${msg(e)}`);
    } finally {
      await q?.destroy();
    }
  }
  return {
    key: 'xdp_ns_per_packet',
    title: '1. XDP per-packet cost, BPF_PROG_TEST_RUN: new UDP flow denied by the last of N rules (ns/packet, lower is better)',
    unit: 'ns/packet',
    columns: ['difw', 'xdp-filter'],
    counts: COUNTS,
    cells,
    ratioCols: [['difw/xdp-filter', 'difw', 'xdp-filter']],
    ratios: [
      { name: `difw@${HI}/difw@${LO}`, value: ratio(cellOf(cells, 'difw', HI), cellOf(cells, 'difw', LO)) },
      { name: `xdp-filter@${HI}/xdp-filter@${LO}`, value: ratio(cellOf(cells, 'xdp-filter', HI), cellOf(cells, 'xdp-filter', LO)) },
    ],
  };
}

// ---- 2 + 3. traffic through the veth ------------------------------------------------------------

/**
 * ufw for every rule count, prepared first thing in the run: its lock is shared with other
 * users of /etc/ufw (conformance oracles) who may hold it for minutes, so it is taken once,
 * at the start, not once per count.
 */
interface UfwPrep {
  pairs: Map<number, Pair>;
  error: string | null;
  lockWaitMs?: number;
}

async function prepareUfw(): Promise<UfwPrep> {
  const prep: UfwPrep = { pairs: new Map(), error: null };
  const ufw = FIREWALLS.find((f) => f.id === 'ufw')!;
  if (!WANT_FW.has('ufw') || ufw.unavailable()) return prep;
  try {
    for (const rules of COUNTS) prep.pairs.set(rules, createPair(`ufw${rules}`, nextK()));
    const t0 = Date.now();
    const { lockWaitMs } = await ufwPrepare(COUNTS.map((rules) => ({ p: prep.pairs.get(rules)!, rules })));
    prep.lockWaitMs = lockWaitMs;
    log(`ufw @${COUNTS.join(',')} rules ready in ${Date.now() - t0} ms (${lockWaitMs} ms waiting for ${UFW_LOCK})`);
  } catch (e) {
    prep.error = msg(e);
    for (const p of prep.pairs.values()) await p.destroy();
    prep.pairs.clear();
    log(`ufw setup failed: ${prep.error}`);
  }
  return prep;
}

async function trafficSections(ufwPrep: UfwPrep): Promise<Section[]> {
  const ufwPairs = ufwPrep.pairs;
  const ufwError = ufwPrep.error;
  // Per metric: the rate matrix and the sender-CPU cost matrix (see CellResult.cpuNsPerOp).
  const metrics = [
    { key: 'pps', what: 'datagram', rate: {} as Matrix, cost: {} as Matrix, run: (p: Pair) => udpCell(p, SECONDS, WARMUP), costScale: 1 },
    { key: 'cps', what: 'connection', rate: {} as Matrix, cost: {} as Matrix, run: (p: Pair) => tcpCell(p, SECONDS, WARMUP), costScale: 1e-3 },
  ].filter((m) => ONLY.has(m.key));
  const all = metrics.flatMap((m) => [m.rate, m.cost]);
  const fws = FIREWALLS.filter((f) => WANT_FW.has(f.id));
  for (const rules of COUNTS) {
    const active: Array<{ fw: Firewall; p: Pair }> = [];
    try {
      for (const fw of fws) {
        const why = fw.unavailable();
        if (why) {
          for (const m of all) setCell(m, fw.id, rules, { value: null, note: `${fw.id}: ${why}` });
          continue;
        }
        let p: Pair | null = null;
        try {
          const t0 = Date.now();
          if (fw.id === 'ufw') {
            p = ufwPairs.get(rules) ?? null;
            if (!p) throw new Error(ufwError ?? 'not prepared');
            active.push({ fw, p });
            continue;
          }
          p = createPair(fw.tag, nextK());
          await fw.apply(p, rules);
          active.push({ fw, p });
          log(`${fw.id} @${rules} rules ready in ${Date.now() - t0} ms`);
        } catch (e) {
          await p?.destroy();
          for (const m of all) setCell(m, fw.id, rules, { value: null, note: `${fw.id} setup at ${rules} rules: ${msg(e)}` });
          log(`${fw.id} @${rules}: setup failed: ${msg(e)}`);
        }
      }
      for (const m of metrics) {
        const rates = new Map<string, number[]>();
        const costs = new Map<string, number[]>();
        const errors = new Map<string, string>();
        for (let rep = 0; rep < REPS; rep++) {
          // Rotate the order each repetition so no firewall always runs first or last.
          const order = active.map((_, i) => active[(i + rep) % active.length]!);
          for (const { fw, p } of order) {
            if (errors.has(fw.id)) continue;
            try {
              const r = await m.run(p);
              if (r.count === 0) throw new Error(`no ${m.what} got through (${r.detail})`);
              (rates.get(fw.id) ?? rates.set(fw.id, []).get(fw.id)!).push(r.rate);
              (costs.get(fw.id) ?? costs.set(fw.id, []).get(fw.id)!).push(r.cpuNsPerOp * m.costScale);
            } catch (e) {
              errors.set(fw.id, msg(e));
            }
          }
        }
        for (const { fw } of active) {
          const err = errors.get(fw.id);
          if (err !== undefined) {
            for (const x of [m.rate, m.cost]) setCell(x, fw.id, rules, { value: null, note: `${fw.id} ${m.key} at ${rules} rules: ${err}` });
            log(`${m.key} ${fw.id} @${rules}: ${err}`);
            continue;
          }
          const r = rates.get(fw.id)!;
          const c = costs.get(fw.id)!;
          setCell(m.rate, fw.id, rules, { value: median(r), samples: r.map(Math.round) });
          setCell(m.cost, fw.id, rules, { value: median(c), samples: c.map((x) => Math.round(x * 100) / 100) });
          log(`${m.key} ${fw.id} @${rules}: ${Math.round(median(r))}/s [${r.map(Math.round).join(' ')}], cpu ${median(c).toFixed(2)}/op`);
        }
      }
    } finally {
      for (const { p } of active.reverse()) await p.destroy();
    }
  }
  const cols: string[] = fws.map((f) => f.id);
  const ratioCols: Array<[string, string, string]> = [
    ['difw/none', 'difw', 'none'],
    ['xdp-filter/none', 'xdp-filter', 'none'],
    ['difw/xdp-filter', 'difw', 'xdp-filter'],
    ['difw/iptables', 'difw', 'iptables'],
    ['difw/nftables', 'difw', 'nftables'],
    ['difw/ufw', 'difw', 'ufw'],
  ].filter(([, a, b]) => cols.includes(a!) && cols.includes(b!)) as Array<[string, string, string]>;
  const acrossCounts = (m: Matrix): Section['ratios'] =>
    cols.filter((c) => c === 'difw' || c === 'iptables' || c === 'nftables' || c === 'ufw').map((c) => ({ name: `${c}@${HI}/${c}@${LO}`, value: ratio(cellOf(m, c, HI), cellOf(m, c, LO)) }));
  const sec = (key: string, title: string, unit: string, cells: Matrix): Section => ({ key, title, unit, columns: cols, counts: COUNTS, cells, ratioCols, ratios: acrossCounts(cells) });
  const out: Section[] = [];
  for (const m of metrics) {
    if (m.key === 'pps') {
      out.push(sec('udp_pps', `2a. UDP datagrams/s delivered through a veth (64-byte payload, one flow, N-1 non-matching denies before "allow ${FLOW_PORT}"; higher is better)`, 'packets/s', m.rate));
      out.push(sec('udp_cpu_ns', '2b. Same runs: CPU ns per datagram on the sending core (send + veth + receive path + firewall; lower is better)', 'ns/packet', m.cost));
    } else {
      out.push(sec('tcp_conn_per_s', '3a. New TCP connections/s (connect + RST close loop, same rules; higher is better)', 'connections/s', m.rate));
      out.push(sec('tcp_cpu_us', '3b. Same runs: client-core CPU us per connection (handshake incl. the server side of SYN/ACK processing; lower is better)', 'us/connection', m.cost));
    }
  }
  return out;
}

// ---- 4. rows from other modules ------------------------------------------------------------------

function toRows(x: unknown, section: string): Row[] {
  const arr = Array.isArray(x) ? x : [x];
  return arr.map((r) => {
    const o = (r ?? {}) as Record<string, unknown>;
    const value = typeof o.value === 'number' && Number.isFinite(o.value) ? o.value : null;
    const note = (o.note ?? o.reason ?? (value === null ? 'no value returned' : undefined)) as string | undefined;
    return {
      section: (o.section as string | undefined) ?? section,
      name: String(o.name ?? o.metric ?? o.label ?? 'unnamed'),
      value,
      unit: String(o.unit ?? ''),
      ...(note !== undefined ? { note: String(note) } : {}),
    };
  });
}

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<T>((_, rej) => (timer = setTimeout(() => rej(new Error(`${what} took over ${ms / 1000} s`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

async function extraRows(): Promise<Row[]> {
  const rows: Row[] = [];
  for (const t of difwTimings) {
    rows.push({ section: 'difw', name: `batch -f of ${t.rules.toLocaleString('en-US')} rules into a running agent`, value: t.batchMs, unit: 'ms', note: 'wall time of the CLI call' });
  }
  if (difwTimings.length) rows.push({ section: 'difw', name: '--force enable (agent start, attach, empty rule set)', value: median(difwTimings.map((t) => t.enableMs)), unit: 'ms', note: `median of ${difwTimings.length}` });
  const distBench = join(ROOT, 'dist', 'bench');
  // bench/lab.ts: benchLab(): Promise<Row[]> (lab connection rate, apply-to-enforcement latency).
  const lab = join(distBench, 'lab.js');
  if (existsSync(lab)) {
    try {
      const mod = (await import(pathToFileURL(lab).href)) as { benchLab?: () => Promise<unknown> };
      if (typeof mod.benchLab !== 'function') throw new Error('bench/lab.ts exports no benchLab()');
      rows.push(...toRows(await withTimeout(mod.benchLab(), 240_000, 'benchLab()'), 'lab'));
    } catch (e) {
      rows.push({ section: 'lab', name: 'lab rows', value: null, unit: '', note: `lab: ${msg(e)}` });
    }
  } else {
    rows.push({ section: 'lab', name: 'connection rate with/without identity, apply-to-enforcement latency', value: null, unit: '', note: 'lab: bench/lab.ts (benchLab) not present' });
  }
  // Identity: any exported function named bench* in src/identity/ (e.g. claim verification ns/SYN).
  const idDir = join(ROOT, 'dist', 'src', 'identity');
  let found = false;
  if (existsSync(idDir)) {
    for (const f of readdirSync(idDir).filter((x) => x.endsWith('.js')).sort()) {
      let mod: Record<string, unknown>;
      try {
        mod = (await import(pathToFileURL(join(idDir, f)).href)) as Record<string, unknown>;
      } catch {
        continue; // a module that does not load yet is someone's work in progress
      }
      for (const [name, fn] of Object.entries(mod)) {
        if (!/^bench/i.test(name) || typeof fn !== 'function') continue;
        found = true;
        try {
          rows.push(...toRows(await withTimeout(Promise.resolve((fn as () => unknown)()), 120_000, name), 'identity'));
        } catch (e) {
          rows.push({ section: 'identity', name: `${f}:${name}`, value: null, unit: '', note: `identity ${name}: ${msg(e)}` });
        }
      }
    }
  }
  if (!found) rows.push({ section: 'identity', name: 'claim verification per SYN', value: null, unit: 'ns/SYN', note: 'identity: no bench* export in src/identity/' });
  return rows;
}

// ---- run ------------------------------------------------------------------------------------------

async function preflight(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('make bench needs root (network namespaces, BPF)');
  const stale = removeStale();
  if (stale.length) log(`removed stale namespaces: ${stale.join(' ')}`);
  for (const d of readdirSync('/run').filter((x) => x.startsWith('bn-bpffs-'))) {
    trySh('umount', [`/run/${d}`]);
    trySh('rmdir', [`/run/${d}`]);
  }
  // A previous run killed while it held a copy of /etc/ufw: put that copy back (under the lock).
  for (const d of readdirSync('/tmp').filter((x) => x.startsWith('bn-ufw-backup-'))) {
    if (await restoreStaleBackup(join('/tmp', d))) log(`restored /etc/ufw from the stale backup /tmp/${d}`);
    else trySh('rm', ['-rf', join('/tmp', d)]);
  }
  buildNettool();
}

function gitCommit(): string {
  const r = trySh('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD']);
  return r.ok ? r.out.trim() : 'unknown';
}

async function main(): Promise<void> {
  const t0 = Date.now();
  const results: Results = {
    meta: {
      date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
      kernel: kernelRelease(),
      cpus: cpus().length,
      loadStart: loadavg()[0]!.toFixed(2),
      loadEnd: '',
      commit: gitCommit(),
      seconds: SECONDS,
      warmup: WARMUP,
      reps: REPS,
      testRunRepeat: REPEAT,
      ruleCounts: COUNTS,
      difw: difwUnavailable() ?? 'usable',
      sectionsRun: [...ONLY],
      firewalls: [...WANT_FW],
    },
    sections: [],
    targets: [],
    rows: [],
  };
  let failure: unknown = null;
  try {
    await preflight();
    log(`difw: ${String(results.meta.difw)}`);
    const traffic = ONLY.has('pps') || ONLY.has('cps');
    const ufwPrep: UfwPrep = traffic ? await prepareUfw() : { pairs: new Map<number, Pair>(), error: null };
    if (ufwPrep.lockWaitMs !== undefined) results.meta.ufwLockWaitMs = ufwPrep.lockWaitMs;
    if (ONLY.has('testrun')) results.sections.push(await testRunSection());
    if (traffic) results.sections.push(...(await trafficSections(ufwPrep)));
    if (ONLY.has('extra')) results.rows.push(...(await extraRows()));
  } catch (e) {
    failure = e;
  } finally {
    await cleanupAll();
  }
  results.meta.loadEnd = loadavg()[0]!.toFixed(2);
  results.meta.elapsedSeconds = Math.round((Date.now() - t0) / 1000);
  const sec = (k: string): Section | undefined => results.sections.find((s) => s.key === k);
  const tr = sec('xdp_ns_per_packet');
  const pps = sec('udp_pps');
  if (tr) results.targets.push(target(`XDP cost difw@${HI} / difw@${LO}`, ratio(cellOf(tr.cells, 'difw', HI), cellOf(tr.cells, 'difw', LO)), 'max', 1.25, 'difw test-run cells are n/a'));
  if (pps) {
    results.targets.push(target(`pps difw / iptables @${HI} rules`, ratio(cellOf(pps.cells, 'difw', HI), cellOf(pps.cells, 'iptables', HI)), 'min', 5, 'difw or iptables pps is n/a'));
    results.targets.push(target(`pps difw / none @${LO} rules`, ratio(cellOf(pps.cells, 'difw', LO), cellOf(pps.cells, 'none', LO)), 'min', 0.9, 'difw or none pps is n/a'));
  }
  // The same two targets from CPU cost per packet (packets per CPU-second = 1 / cost): immune
  // to other processes taking the core, which the wall-clock rate is not.
  const cpu = sec('udp_cpu_ns');
  if (cpu) {
    results.targets.push(target(`CPU-based pps difw / iptables @${HI} rules (iptables ns / difw ns)`, ratio(cellOf(cpu.cells, 'iptables', HI), cellOf(cpu.cells, 'difw', HI)), 'min', 5, 'difw or iptables CPU cost is n/a'));
    results.targets.push(target(`CPU-based pps difw / none @${LO} rules (none ns / difw ns)`, ratio(cellOf(cpu.cells, 'none', LO), cellOf(cpu.cells, 'difw', LO)), 'min', 0.9, 'difw or none CPU cost is n/a'));
  }
  if (failure) results.meta.error = msg(failure);
  writeFileSync(join(ROOT, 'bench', 'results.json'), JSON.stringify(results, null, 2) + '\n');
  process.stdout.write(render(results));
  if (failure) {
    log(`aborted: ${msg(failure)}`);
    process.exitCode = 1;
  }
}

let stopping = false;
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    if (stopping) return;
    stopping = true;
    log(`${sig}: cleaning up`);
    void cleanupAll().finally(() => process.exit(130));
  });
}

await main();
