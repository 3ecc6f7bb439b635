/**
 * Where difw keeps things, per network namespace.
 *
 * difw acts on the network namespace it runs in. The namespace is identified by the inode of
 * /proc/self/ns/net; the initial namespace (the host's, same inode as /proc/1/ns/net) is called
 * "host". Each namespace gets:
 *   - a state dir  /var/lib/difw/<id>/       rules and settings (written atomically)
 *   - a run dir    /run/difw/<id>/           agent socket, pid file, event log
 *   - a pin dir    /run/difw/bpffs/<id>/     pinned maps and programs
 *
 * The pin dir lives on a bpffs mounted at /run/difw/bpffs in the *initial* mount namespace:
 * `ip netns exec` remounts /sys, so /sys/fs/bpf is not shared, but /run is, and every later
 * `ip netns exec` inherits the mount. `ensureBpffs()` makes that mount if it is missing.
 */
import { statSync, readFileSync, mkdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DifwError } from '../errors.js';

export const STATE_ROOT = process.env.DIFW_STATE_ROOT ?? '/var/lib/difw';
export const RUN_ROOT = process.env.DIFW_RUN_ROOT ?? '/run/difw';
export const BPFFS_ROOT = join(RUN_ROOT, 'bpffs');
/** Compiled BPF objects: `build/` of the checkout (this file runs from dist/src/state/). */
export const BPF_OBJ_DIR = process.env.DIFW_BPF_DIR ?? join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'build');

export interface NetnsPaths {
  /** "host" for the initial network namespace, else "ns-<inode>". */
  id: string;
  inode: number;
  stateDir: string;
  runDir: string;
  pinDir: string;
  stateFile: string;
  lockFile: string;
  socket: string;
  pidFile: string;
  eventLog: string;
  agentLog: string;
}

/** A named namespace's id (`ns-<inode>`); the capture is the inode. */
export const NETNS_ID = /^ns-(\d+)$/;
/** The agent's pid file, in the namespace's run dir. */
export const AGENT_PID_FILE = 'agent.pid';

/**
 * The pid in an agent pid file when that process is alive and is a difw agent (its command line
 * has the argument `agent`); undefined otherwise: pid files can be stale and pids are reused.
 */
export function runningAgentPid(pidFile: string): number | undefined {
  try {
    const pid = Number(readFileSync(pidFile, 'utf8'));
    if (!Number.isInteger(pid) || pid <= 0) return undefined;
    process.kill(pid, 0);
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes('agent') ? pid : undefined;
  } catch {
    return undefined;
  }
}

export function netnsInode(pid: number | 'self' = 'self'): number {
  return statSync(`/proc/${pid}/ns/net`).ino;
}

export function netnsPaths(inode = netnsInode()): NetnsPaths {
  let hostIno = -1;
  try {
    hostIno = netnsInode(1);
  } catch {
    /* no access to pid 1: treat every namespace as a named one */
  }
  const id = inode === hostIno ? 'host' : `ns-${inode}`;
  const stateDir = join(STATE_ROOT, id);
  const runDir = join(RUN_ROOT, id);
  return {
    id,
    inode,
    stateDir,
    runDir,
    pinDir: join(BPFFS_ROOT, id),
    stateFile: join(stateDir, 'state.json'),
    lockFile: join(runDir, 'lock'),
    socket: join(runDir, 'agent.sock'),
    pidFile: join(runDir, AGENT_PID_FILE),
    eventLog: join(runDir, 'events.log'),
    agentLog: join(runDir, 'agent.log'),
  };
}

function isBpffs(path: string): boolean {
  try {
    const mounts = readFileSync('/proc/self/mounts', 'utf8');
    return mounts.split('\n').some((l) => {
      const f = l.split(' ');
      return f[1] === path && f[2] === 'bpf';
    });
  } catch {
    return false;
  }
}

/**
 * Make sure the shared bpffs is mounted at BPFFS_ROOT, in the initial mount namespace when we
 * can reach it. Returns false if the mount is not visible from this process (a mount namespace
 * made before the bpffs existed); the caller then re-executes itself in the initial one.
 */
export function ensureBpffs(): boolean {
  if (isBpffs(BPFFS_ROOT)) return true;
  const sameMntNs = (() => {
    try {
      return statSync('/proc/self/ns/mnt').ino === statSync('/proc/1/ns/mnt').ino;
    } catch {
      return true;
    }
  })();
  const script = `mkdir -p ${BPFFS_ROOT} && (grep -qs ' ${BPFFS_ROOT} bpf ' /proc/mounts || mount -t bpf bpf ${BPFFS_ROOT})`;
  try {
    if (sameMntNs) execFileSync('sh', ['-c', script], { stdio: 'pipe' });
    else execFileSync('nsenter', ['-t', '1', '-m', '--', 'sh', '-c', script], { stdio: 'pipe' });
  } catch (e) {
    throw new DifwError('DIFW_E_BPF_SYSCALL', `Cannot mount bpffs at ${BPFFS_ROOT}: ${(e as Error).message}`, { cause: e });
  }
  return isBpffs(BPFFS_ROOT);
}

/** Locate the cgroup v2 mount (the unified hierarchy) from /proc/mounts. */
export function cgroup2Root(): string {
  const mounts = readFileSync('/proc/mounts', 'utf8').split('\n');
  for (const l of mounts) {
    const f = l.split(' ');
    if (f[2] === 'cgroup2' && f[1]) return f[1];
  }
  throw new DifwError('DIFW_E_BPF_SYSCALL', 'Cannot find a cgroup2 mount in /proc/mounts');
}

export function ensureDir(p: string, mode = 0o700): void {
  mkdirSync(p, { recursive: true, mode });
}
