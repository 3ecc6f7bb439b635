/**
 * Garbage collection of the per-namespace dirs (src/state/paths.ts) of network namespaces that
 * no longer exist.
 *
 * A namespace that ran difw and was then deleted (`ip netns del`, a container that exited)
 * leaves `/var/lib/difw/ns-<inode>`, `/run/difw/ns-<inode>` and possibly pins under
 * `/run/difw/bpffs/ns-<inode>` behind. Nothing reads them again (the netns cookie keeps a
 * reused inode from inheriting them, see store.ts), but pinned maps keep their memory until
 * unpinned. The sweep runs when a namespace saves its state for the first time, so the number
 * of leftovers is bounded by the namespaces that died since the last new one appeared.
 *
 * Liveness. A network namespace exists as long as something holds it: a process in it, an open
 * file descriptor of it (/proc/PID/fd -> "net:[INODE]") or a bind mount of it (mountinfo, fs
 * type nsfs, as `ip netns add` makes). All three are scanned from /proc. That is complete only
 * from the initial PID namespace (elsewhere some holders are invisible), so the sweep does
 * nothing anywhere else. A dir whose agent is still running (its pid file names a live difw
 * agent, paths.ts runningAgentPid) is never removed either.
 */
import { readdirSync, readFileSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { AGENT_PID_FILE, BPFFS_ROOT, NETNS_ID, RUN_ROOT, STATE_ROOT, runningAgentPid } from './paths.js';

/** /proc/self/ns/pid of the initial PID namespace (PROC_PID_INIT_INO, fixed by the kernel). */
const INIT_PID_NS_INODE = 0xeffffffc;

const NETNS_LINK = /^net:\[(\d+)\]$/;

function tryRead<T>(f: () => T): T | undefined {
  try {
    return f();
  } catch {
    return undefined; /* the process exited while we looked, or the entry is not ours to read */
  }
}

/** Inodes of every network namespace something still holds, or undefined when this process
 * cannot see every holder (not in the initial PID namespace, or no /proc). */
export function liveNetnsInodes(proc = '/proc'): Set<number> | undefined {
  const pidNs = tryRead(() => statSync(join(proc, 'self/ns/pid')).ino);
  if (pidNs !== INIT_PID_NS_INODE) return undefined;
  const live = new Set<number>();
  const mountNsSeen = new Set<number>();
  const pids = tryRead(() => readdirSync(proc).filter((d) => /^\d+$/.test(d))) ?? [];
  for (const pid of pids) {
    const base = join(proc, pid);
    const net = tryRead(() => statSync(join(base, 'ns/net')).ino);
    if (net !== undefined) live.add(net);
    for (const fd of tryRead(() => readdirSync(join(base, 'fd'))) ?? []) {
      const m = NETNS_LINK.exec(tryRead(() => readlinkSync(join(base, 'fd', fd))) ?? '');
      if (m) live.add(Number(m[1]));
    }
    const mnt = tryRead(() => statSync(join(base, 'ns/mnt')).ino);
    if (mnt === undefined || mountNsSeen.has(mnt)) continue;
    mountNsSeen.add(mnt);
    for (const inode of nsfsMountedNetns(tryRead(() => readFileSync(join(base, 'mountinfo'), 'utf8')) ?? '')) live.add(inode);
  }
  return live;
}

/** Network namespaces bind-mounted in one mount namespace (its mountinfo text). */
export function nsfsMountedNetns(mountinfo: string): number[] {
  const out: number[] = [];
  for (const line of mountinfo.split('\n')) {
    // ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTS
    const [left, right] = line.split(' - ');
    if (!left || !right || right.split(' ')[0] !== 'nsfs') continue;
    const m = NETNS_LINK.exec(left.split(' ')[3] ?? '');
    if (m) out.push(Number(m[1]));
  }
  return out;
}

export interface SweepRoots {
  stateRoot: string;
  runRoot: string;
  pinRoot: string;
}

const DEFAULT_ROOTS: SweepRoots = { stateRoot: STATE_ROOT, runRoot: RUN_ROOT, pinRoot: BPFFS_ROOT };

/**
 * Remove the dirs of every `ns-<inode>` whose inode is not in `live`. Returns the ids removed.
 * `live` undefined (liveness unknown) removes nothing.
 */
export function sweepDeadNamespaces(live: Set<number> | undefined, roots: SweepRoots = DEFAULT_ROOTS): string[] {
  if (!live) return [];
  const ids = new Set<string>();
  for (const root of [roots.stateRoot, roots.runRoot, roots.pinRoot]) {
    for (const d of tryRead(() => readdirSync(root)) ?? []) if (NETNS_ID.test(d)) ids.add(d);
  }
  const removed: string[] = [];
  for (const id of [...ids].sort()) {
    if (live.has(Number(NETNS_ID.exec(id)![1])) || runningAgentPid(join(roots.runRoot, id, AGENT_PID_FILE)) !== undefined) continue;
    for (const root of [roots.pinRoot, roots.runRoot, roots.stateRoot]) rmSync(join(root, id), { recursive: true, force: true });
    removed.push(id);
  }
  return removed;
}
