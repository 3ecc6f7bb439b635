/**
 * Driving the product under test, difw, exactly as a user does: inside the server namespace,
 * `difw batch -f FILE` stores the N rules, `difw --force enable` starts the agent, which attaches
 * XDP/TC to the namespace's interfaces (here only the veth). Teardown is `difw disable`, then
 * killing whatever still runs in the namespace (only our own processes live there) and removing
 * the namespace's difw directories (named after the namespace inode).
 *
 * `difwUnavailable()` says why difw cannot be measured (not built, CLI or agent missing), so the
 * table prints "n/a (reason)" instead of a number.
 */
import { existsSync, writeFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sh, trySh } from './sh.js';
import { killNsProcesses, netnsInode, type Pair } from './topo.js';
import { ufwCommands } from './rules.js';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const DIFW = join(ROOT, 'bin', 'difw');
const XDP_OBJ = join(ROOT, 'build', 'xdp_ingress.bpf.o');

let cached: string | null | undefined;

/** null when difw looks usable, else a short reason. */
export function difwUnavailable(): string | null {
  if (cached !== undefined) return cached;
  cached = probe();
  return cached;
}

function probe(): string | null {
  if (!existsSync(DIFW)) return 'bin/difw missing';
  if (!existsSync(join(ROOT, 'dist', 'src', 'cli', 'main.js'))) return 'CLI not built (dist/src/cli/main.js missing)';
  if (!existsSync(XDP_OBJ)) return 'datapath not built (build/xdp_ingress.bpf.o missing)';
  // `--help` prints ufw's own help text; difw's extra commands answer `<cmd> --help`.
  const help = trySh(DIFW, ['batch', '--help'], { timeoutMs: 20_000 });
  const text = help.out + help.err;
  if (!help.ok || !/--file/.test(text)) return `CLI has no working "batch -f" (${text.trim().split('\n').slice(-1)[0] ?? ''})`.slice(0, 160);
  return null;
}

export interface DifwSetup {
  /** id of the XDP program attached to the server veth (0 when its ingress hook is TC). */
  xdpProgId: number;
  /** Wall time of `difw --force enable` and of `difw batch -f` (ms). */
  enableMs: number;
  batchMs: number;
}

/**
 * Store `lines` (ufw rule commands) with `difw batch`, enable, and return the attached XDP program.
 * `hook` is the agent's DIFW_INGRESS_HOOK: 'auto' (the default: TC on a veth) or 'xdp' (section
 * 1 times xdp_ingress next to xdp-filter, another XDP program).
 * The teardown (disable, kill, remove the namespace's difw dirs) runs when the pair is destroyed.
 */
export function difwSetup(p: Pair, lines: string[], hook: 'auto' | 'xdp' = 'auto'): DifwSetup {
  const env = { ...process.env, DIFW_INGRESS_HOOK: hook };
  const file = `/tmp/bn-difw-${p.tag}-${process.pid}.rules`;
  writeFileSync(file, lines.join('\n') + '\n');
  const ino = netnsInode(p.srv);
  p.onDestroy(`difw disable in ${p.srv}`, () => {
    trySh('ip', ['netns', 'exec', p.srv, DIFW, 'disable'], { timeoutMs: 30_000 });
    killNsProcesses(p.srv);
    for (const d of [`/var/lib/difw/ns-${ino}`, `/run/difw/ns-${ino}`]) rmSync(d, { recursive: true, force: true });
    trySh('rm', ['-rf', `/run/difw/bpffs/ns-${ino}`]);
    rmSync(file, { force: true });
  });
  // Enable first (agent up, empty rule set), then load all rules in one atomic batch: the batch
  // returns once the agent has swapped the tables in.
  let t = Date.now();
  sh('enable difw', 'ip', ['netns', 'exec', p.srv, DIFW, '--force', 'enable'], { timeoutMs: 300_000, env });
  const enableMs = Date.now() - t;
  t = Date.now();
  sh('load rules with difw batch', 'ip', ['netns', 'exec', p.srv, DIFW, 'batch', '-f', file], { timeoutMs: 300_000 });
  const batchMs = Date.now() - t;
  const id = xdpProgId(p.srv, p.srvIf);
  if (hook === 'xdp' && id === null) throw new Error(`difw enabled but no XDP program is attached to ${p.srvIf}`);
  if (hook === 'auto') {
    const f = sh(`tc filters of ${p.srvIf}`, 'ip', ['netns', 'exec', p.srv, 'tc', 'filter', 'show', 'dev', p.srvIf, 'ingress']);
    if (id !== null || !/tc_ingress_fw/.test(f)) throw new Error(`difw enabled but the TC ingress chain is not what is attached to ${p.srvIf}: ${f.trim()}`);
  }
  return { xdpProgId: id ?? 0, enableMs, batchMs };
}

/** Setup timings of the traffic-section namespaces, reported as extra rows. */
export const difwTimings: Array<{ rules: number; enableMs: number; batchMs: number }> = [];

export function difwSetupRules(p: Pair, rules: number): DifwSetup {
  const r = difwSetup(p, ufwCommands(rules));
  difwTimings.push({ rules, enableMs: r.enableMs, batchMs: r.batchMs });
  return r;
}

/** The XDP program attached to `dev` in `ns` (null if none). */
export function xdpProgId(ns: string, dev: string): number | null {
  const j = JSON.parse(sh(`read ${dev}`, 'ip', ['-n', ns, '-j', 'link', 'show', 'dev', dev])) as Array<{
    xdp?: { prog?: { id: number }; attached?: Array<{ prog?: { id: number } }> };
  }>;
  const x = j[0]?.xdp;
  return x?.prog?.id ?? x?.attached?.find((a) => a.prog)?.prog?.id ?? null;
}
