/**
 * Test environment helpers shared by the bpf and e2e layers: skip guards that say why a test
 * cannot run here, and small wrappers for network namespaces, veth pairs, cgroups and bpffs
 * pin directories that always clean up after themselves.
 *
 * Names: every resource is named `<prefix><pid-tag><n>` (prefix given by the caller, e.g. "tb")
 * so parallel test processes and parallel helpers never collide; interface names stay within
 * the kernel's 15 characters as long as the prefix has at most 4.
 *
 * Node cannot setns() itself, so work inside a namespace runs in a child process started with
 * `ip netns exec` (see `execIn` / `nodeIn`).
 */
import { spawn, spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { existsSync, readdirSync, mkdirSync, rmSync, rmdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestContext } from 'node:test';
import { ensureBpffs, BPFFS_ROOT, cgroup2Root } from '../../src/state/paths.js';

/** Repository root (this file runs from dist/test/helpers/). */
export const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const BUILD = join(REPO, 'build');
/** Compiled BPF fixture objects (make bpf builds test/fixtures/bpf/*.bpf.c here). */
export const FIXTURES = join(BUILD, 'fixtures');

export const isRoot = (): boolean => process.getuid?.() === 0;

/** Skips `t` (returning true) unless running as root. */
export function skipUnlessRoot(t: TestContext): boolean {
  if (isRoot()) return false;
  t.skip('needs root');
  return true;
}

let bpfProbe: string | null | undefined;

/**
 * Why BPF tests cannot run, or null. Probes the bpf() syscall in a child process (so a missing
 * libbpf or an FFI fault cannot take the test runner down), once per process.
 */
export function bpfSkipReason(objects: string[] = []): string | null {
  if (!isRoot()) return 'needs root (bpf syscall, netlink attach)';
  const binding = join(REPO, 'dist', 'src', 'bpf', 'libbpf.js');
  if (!existsSync(binding)) return `needs a build (${binding} missing: run make build)`;
  if (bpfProbe === undefined) {
    const code = `import(${JSON.stringify(binding)}).then((m) => { const r = m.bpfUnavailableReason(); process.stdout.write(r ?? 'OK'); }, (e) => process.stdout.write('cannot load the binding: ' + e.message))`;
    const r = spawnSync(process.execPath, ['-e', code], { encoding: 'utf8', timeout: 30_000 });
    const out = (r.stdout ?? '').trim();
    bpfProbe = out === 'OK' ? null : out || `bpf probe failed (${r.status}): ${r.stderr}`;
  }
  if (bpfProbe) return bpfProbe;
  const objs = objects.length ? objects.map((o) => join(BUILD, o)) : [];
  if (!objs.length) {
    let any = false;
    try {
      any = readdirSync(BUILD).some((f) => f.endsWith('.bpf.o'));
    } catch {
      /* no build dir */
    }
    if (!any) return `needs compiled BPF objects in ${BUILD} (run make bpf)`;
  }
  for (const o of objs) if (!existsSync(o)) return `needs ${o} (run make bpf)`;
  return null;
}

/**
 * Skips `t` (returning true) unless root, a working bpf() syscall and the BPF objects are
 * present. `objects` are paths relative to build/, e.g. ['fixtures/binding.bpf.o'].
 */
export function skipUnlessBpf(t: TestContext, objects: string[] = []): boolean {
  const why = bpfSkipReason(objects);
  if (!why) return false;
  t.skip(why);
  return true;
}

// ---------------------------------------------------------------------------------------------
// Names

let counter = 0;
const pidTag = (process.pid % 46656).toString(36); // at most 3 base-36 chars

/** A fresh name `<prefix><pid-tag><n>` (unique within this machine's running tests). */
export function uniqueName(prefix: string): string {
  return `${prefix}${pidTag}${(counter++).toString(36)}`;
}

// ---------------------------------------------------------------------------------------------
// Processes

export interface ExecResult {
  status: number;
  stdout: string;
  stderr: string;
}

function run(argv: string[], opts: SpawnSyncOptions & { input?: string } = {}): ExecResult {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: 60_000, ...opts });
  return { status: r.status ?? -1, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? '') + (r.error ? String(r.error) : '') };
}

function must(argv: string[], r: ExecResult): ExecResult {
  if (r.status !== 0) throw new Error(`command failed (${r.status}): ${argv.join(' ')}\n${r.stdout}${r.stderr}`);
  return r;
}

/** Run `argv` inside netns `ns` (`ip netns exec`). Bounded by `timeoutMs` (default 60 s). */
export function execIn(ns: string, argv: string[], opts: { input?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): ExecResult {
  return run(['ip', 'netns', 'exec', ns, ...argv], { input: opts.input, timeout: opts.timeoutMs ?? 60_000, env: opts.env ?? process.env });
}

/** Like execIn but throws with the output when the command fails. */
export function mustExecIn(ns: string, argv: string[], opts: { input?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): ExecResult {
  return must(['ip', 'netns', 'exec', ns, ...argv], execIn(ns, argv, opts));
}

/** Run a compiled node script (path relative to the repo, e.g. dist/test/fixtures/x.js) inside `ns`. */
export function nodeIn(ns: string, script: string, args: string[] = [], opts: { timeoutMs?: number } = {}): ExecResult {
  return execIn(ns, [process.execPath, '--enable-source-maps', join(REPO, script), ...args], opts);
}

/** Run a host command, throwing with its output on failure. */
export function sh(argv: string[], opts: { input?: string; timeoutMs?: number } = {}): ExecResult {
  return must(argv, run(argv, { input: opts.input, timeout: opts.timeoutMs ?? 60_000 }));
}

// ---------------------------------------------------------------------------------------------
// Network namespaces and veths

/** Create a network namespace named uniquely from `prefix`, with loopback up. */
export function createNetns(prefix: string): string {
  const name = uniqueName(prefix);
  sh(['ip', 'netns', 'add', name]);
  sh(['ip', '-n', name, 'link', 'set', 'lo', 'up']);
  return name;
}

/** Delete a namespace (its veths go with it); never throws. */
export function deleteNetns(name: string): void {
  run(['ip', 'netns', 'del', name]);
}

/**
 * Create `count` namespaces, run `fn` with their names, delete them afterwards (also when `fn`
 * throws).
 */
export async function withNetns<T>(prefix: string, fn: (...names: string[]) => T | Promise<T>, count = 1): Promise<T> {
  const names: string[] = [];
  try {
    for (let i = 0; i < count; i++) names.push(createNetns(prefix));
    return await fn(...names);
  } finally {
    for (const n of names) deleteNetns(n);
  }
}

export interface VethPair {
  a: string;
  b: string;
  nsA: string;
  nsB: string;
  ifindexA: number;
  ifindexB: number;
}

/**
 * A veth pair with end `a` in `nsA` and end `b` in `nsB` (the same namespace is fine), both up.
 * `addrA`/`addrB`: addresses with prefix length (only 198.18.0.0/15 and 2001:db8::/32 in tests),
 * IPv6 ones without DAD so they are usable at once.
 */
export function vethPair(nsA: string, nsB: string, opts: { prefix?: string; addrA?: string[]; addrB?: string[] } = {}): VethPair {
  const base = uniqueName(opts.prefix ?? 'tv');
  const a = `${base}a`;
  const b = `${base}b`;
  if (a.length > 15) throw new Error(`interface name ${a} is longer than 15 characters`);
  sh(['ip', '-n', nsA, 'link', 'add', a, 'type', 'veth', 'peer', 'name', b, 'netns', nsB]);
  for (const [ns, dev, addrs] of [[nsA, a, opts.addrA ?? []], [nsB, b, opts.addrB ?? []]] as const) {
    for (const addr of addrs) sh(['ip', '-n', ns, 'addr', 'add', addr, 'dev', dev, ...(addr.includes(':') ? ['nodad'] : [])]);
    sh(['ip', '-n', ns, 'link', 'set', dev, 'up']);
  }
  return { a, b, nsA, nsB, ifindexA: ifindexIn(nsA, a), ifindexB: ifindexIn(nsB, b) };
}

/** ifindex of `ifname` inside `ns`. */
export function ifindexIn(ns: string, ifname: string): number {
  const r = sh(['ip', '-n', ns, '-j', 'link', 'show', 'dev', ifname]);
  const j = JSON.parse(r.stdout) as { ifindex: number }[];
  if (!j[0]) throw new Error(`no interface ${ifname} in netns ${ns}`);
  return j[0].ifindex;
}

// ---------------------------------------------------------------------------------------------
// bpffs pin directories and cgroups

/** A fresh directory on difw's bpffs (mounted if needed); remove it with `removePinDir`. */
export function makePinDir(prefix: string): string {
  if (!ensureBpffs()) throw new Error(`bpffs at ${BPFFS_ROOT} is not visible from this process`);
  const dir = join(BPFFS_ROOT, `test-${uniqueName(prefix)}`);
  mkdirSync(dir);
  return dir;
}

export function removePinDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** A fresh cgroup v2 directory `<cgroup2 root>/<prefix>...`; remove it with `removeCgroup`. */
export function makeCgroup(prefix: string): string {
  const dir = join(cgroup2Root(), uniqueName(prefix));
  mkdirSync(dir);
  return dir;
}

/** Move any process left in the cgroup to the root, then remove it; never throws. */
export function removeCgroup(dir: string): void {
  try {
    const procs = readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean);
    for (const p of procs) writeFileSync(join(cgroup2Root(), 'cgroup.procs'), p);
  } catch {
    /* already gone */
  }
  try {
    rmdirSync(dir);
  } catch {
    /* busy or gone: nothing more to do without killing someone else's process */
  }
}

/**
 * Mount tracefs at /sys/kernel/tracing if it is not there (libbpf needs it to attach classic
 * tracepoints). Returns a skip reason or null.
 */
export function ensureTracefs(): string | null {
  if (existsSync('/sys/kernel/tracing/events') || existsSync('/sys/kernel/debug/tracing/events')) return null;
  const r = run(['mount', '-t', 'tracefs', 'tracefs', '/sys/kernel/tracing']);
  if (r.status !== 0 || !existsSync('/sys/kernel/tracing/events')) return `tracefs unavailable: ${r.stderr.trim()}`;
  return null;
}

/** Run `argv` as a process inside cgroup `dir` (it moves itself in before exec). */
export function execInCgroup(dir: string, argv: string[], opts: { timeoutMs?: number } = {}): ExecResult {
  const script = 'echo $$ > "$0/cgroup.procs" && exec "$@"';
  return run(['sh', '-c', script, dir, ...argv], { timeout: opts.timeoutMs ?? 60_000 });
}

// ---------------------------------------------------------------------------------------------
// Traffic

const UDP_RECEIVER = `
import json, select, socket, sys, time
ports = [int(p) for p in sys.argv[1].split(',')]
expect = int(sys.argv[2]); wait = float(sys.argv[3]); fam = socket.AF_INET6 if ':' in sys.argv[4] else socket.AF_INET
socks = {}
for p in ports:
    s = socket.socket(fam, socket.SOCK_DGRAM); s.bind((sys.argv[4], p)); socks[s] = p
counts = {p: 0 for p in ports}
print('ready', flush=True)
deadline = time.time() + wait
while time.time() < deadline and sum(counts.values()) < expect:
    r, _, _ = select.select(list(socks), [], [], max(0.0, deadline - time.time()))
    for s in r:
        s.recv(2048); counts[socks[s]] += 1
print(json.dumps(counts), flush=True)
`;

const UDP_SENDER = `
import socket, sys, time
fam = socket.AF_INET6 if ':' in sys.argv[1] else socket.AF_INET
s = socket.socket(fam, socket.SOCK_DGRAM)
for p in sys.argv[2].split(','):
    for i in range(int(sys.argv[3])):
        s.sendto(b'difw-test', (sys.argv[1], int(p))); time.sleep(0.002)
`;

/**
 * Send `count` UDP datagrams from netns `from` to `dst` for each port and report how many the
 * receiver bound on `dst` in netns `to` got, per port. Bounded: at most count*ports datagrams,
 * the receiver gives up after `waitMs` (default 1500 ms).
 */
export async function udpExchange(opts: { from: string; to: string; dst: string; ports: number[]; count: number; waitMs?: number }): Promise<Record<number, number>> {
  const waitS = (opts.waitMs ?? 1500) / 1000;
  const recv = spawn('ip', ['netns', 'exec', opts.to, 'python3', '-c', UDP_RECEIVER, opts.ports.join(','), String(opts.count * opts.ports.length), String(waitS), opts.dst], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  recv.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  recv.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<number>((res) => recv.on('close', (c) => res(c ?? -1)));
  const ready = await Promise.race([
    new Promise<boolean>((res) => {
      const check = () => (out.includes('ready') ? res(true) : setTimeout(check, 10));
      check();
    }),
    exited.then(() => false),
    new Promise<boolean>((res) => setTimeout(() => res(false), 10_000)),
  ]);
  if (!ready) {
    recv.kill();
    throw new Error(`UDP receiver in ${opts.to} did not start: ${err}`);
  }
  mustExecIn(opts.from, ['python3', '-c', UDP_SENDER, opts.dst, opts.ports.join(','), String(opts.count)], { timeoutMs: 20_000 });
  const code = await exited;
  const line = out.split('\n').find((l) => l.startsWith('{'));
  if (code !== 0 || !line) throw new Error(`UDP receiver in ${opts.to} failed (${code}): ${out}${err}`);
  const j = JSON.parse(line) as Record<string, number>;
  return Object.fromEntries(Object.entries(j).map(([k, v]) => [Number(k), v]));
}
