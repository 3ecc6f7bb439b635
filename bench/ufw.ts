/**
 * Using the real ufw inside a benchmark namespace without disturbing anyone else.
 *
 * ufw keeps its configuration in the global /etc/ufw, which other helpers' conformance oracles
 * also use. So every use of ufw here happens under `flock /tmp/difw-ufw-oracle.lock`, after a
 * full copy of /etc/ufw was taken, and /etc/ufw is put back from that copy before the lock is
 * released — also on failure and on Ctrl-C (both steps are on the cleanup stack). The rules ufw
 * loaded stay in the namespace's netfilter tables after /etc/ufw is restored, which is all the
 * measurement needs, so the lock is held only for a few seconds per rule count.
 */
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bg, defer, sh, trySh } from './sh.js';

export const UFW_LOCK = '/tmp/difw-ufw-oracle.lock';
const ETC = '/etc/ufw';

/**
 * How long to wait for the lock (BENCH_UFW_LOCK_WAIT seconds, default 240). Other users of
 * /etc/ufw (the conformance oracles) can hold it for many minutes; past this wait the ufw cells
 * are n/a rather than stretching the run.
 */
const LOCK_WAIT_S = Number(process.env.BENCH_UFW_LOCK_WAIT ?? 120);

/** Run fn while holding the ufw oracle lock (released also on Ctrl-C via the cleanup stack). */
export async function underUfwLock<T>(fn: () => T | Promise<T>): Promise<T> {
  const holder = bg('flock', ['-w', String(LOCK_WAIT_S), UFW_LOCK, 'sh', '-c', 'echo locked; exec cat']);
  const release = defer('release the ufw lock', async () => {
    holder.child.stdin?.end();
    await holder.done(5000);
  });
  try {
    try {
      await holder.waitLine(/^locked$/, (LOCK_WAIT_S + 10) * 1000);
    } catch {
      throw new Error(`${UFW_LOCK} stayed held by another user of /etc/ufw for over ${LOCK_WAIT_S} s`);
    }
    return await fn();
  } finally {
    await release();
  }
}

/** Run fn under the lock with a full copy of /etc/ufw taken before and put back after. */
export async function withUfwEtc<T>(fn: () => T | Promise<T>): Promise<T> {
  return underUfwLock(async () => {
    const dir = mkdtempSync('/tmp/bn-ufw-backup-');
    const copy = join(dir, 'ufw');
    sh('back up /etc/ufw', 'cp', ['-a', ETC, copy]);
    const restore = defer('restore /etc/ufw', () => restoreEtc(dir, copy));
    try {
      return await fn();
    } finally {
      await restore();
    }
  });
}

/** A previous run was killed while /etc/ufw was modified: put its copy back, under the lock. */
export async function restoreStaleBackup(dir: string): Promise<boolean> {
  const copy = join(dir, 'ufw');
  if (!existsSync(join(copy, 'ufw.conf'))) return false;
  await underUfwLock(() => restoreEtc(dir, copy));
  return true;
}

function restoreEtc(dir: string, copy: string): void {
  if (!existsSync(join(copy, 'ufw.conf'))) throw new Error(`backup ${copy} is incomplete; /etc/ufw left as is`);
  const old = `${ETC}.bn-old-${process.pid}`;
  sh('move /etc/ufw aside', 'mv', [ETC, old]);
  sh('restore /etc/ufw', 'cp', ['-a', copy, ETC]);
  trySh('rm', ['-rf', old, dir]);
}

/**
 * Load rules into ufw inside each namespace (ufw must not be running there yet), all under one
 * lock acquisition: other helpers may hold the lock for minutes, so it is taken once per run.
 */
export async function ufwLoadMany(items: Array<{ ns: string; userRules: string; user6Rules: string }>): Promise<{ lockWaitMs: number }> {
  const t0 = Date.now();
  let lockWaitMs = 0;
  await withUfwEtc(() => {
    lockWaitMs = Date.now() - t0;
    for (const it of items) {
      writeFileSync(join(ETC, 'user.rules'), it.userRules);
      writeFileSync(join(ETC, 'user6.rules'), it.user6Rules);
      sh('enable ufw in the benchmark namespace', 'ip', ['netns', 'exec', it.ns, 'ufw', '--force', 'enable'], { timeoutMs: 300_000 });
    }
  });
  return { lockWaitMs };
}
