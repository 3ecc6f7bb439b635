/**
 * Atomic file writes and a cross-process lock, so a bad or concurrent command never leaves
 * half-written state: writers take the lock, write a temp file, fsync it and rename it over
 * the old one.
 */
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, unlinkSync, writeSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DifwError } from '../errors.js';

export function writeFileAtomic(path: string, data: string | Buffer, mode = 0o600): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w', mode);
  try {
    writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  try {
    const dfd = openSync(dirname(path), 'r');
    fsyncSync(dfd);
    closeSync(dfd);
  } catch {
    /* directory fsync is best effort */
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const sleepSync = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/** One attempt to create the lock file; a lock left by a dead process is removed first. */
function tryAcquire(lockFile: string): { ok: true } | { ok: false; holder: number } {
  try {
    const fd = openSync(lockFile, 'wx', 0o600);
    writeSync(fd, String(process.pid));
    closeSync(fd);
    return { ok: true };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  let holder = NaN;
  try {
    holder = Number(readFileSync(lockFile, 'utf8'));
  } catch {
    return { ok: false, holder: 0 }; // vanished between open and read: retry
  }
  if (Number.isInteger(holder) && holder > 0 && !pidAlive(holder)) {
    try {
      unlinkSync(lockFile);
    } catch {
      /* someone else took it over first */
    }
  }
  return { ok: false, holder };
}

function release(lockFile: string): void {
  try {
    unlinkSync(lockFile);
  } catch {
    /* already gone */
  }
}

const lockError = (lockFile: string, holder: number) =>
  new DifwError('DIFW_E_LOCK', `Cannot take the lock ${lockFile}: held by pid ${holder}`);

/** Hold an exclusive lock file while `fn` runs, waiting up to `timeoutMs` for a live holder. */
export function withLock<T>(lockFile: string, fn: () => T, timeoutMs = 60_000): T {
  mkdirSync(dirname(lockFile), { recursive: true, mode: 0o700 });
  const deadline = Date.now() + timeoutMs;
  for (let r = tryAcquire(lockFile); !r.ok; r = tryAcquire(lockFile)) {
    if (Date.now() > deadline) throw lockError(lockFile, r.holder);
    sleepSync(20);
  }
  try {
    return fn();
  } finally {
    release(lockFile);
  }
}

/** Async variant for callers that await inside the critical section. */
export async function withLockAsync<T>(lockFile: string, fn: () => Promise<T>, timeoutMs = 60_000): Promise<T> {
  mkdirSync(dirname(lockFile), { recursive: true, mode: 0o700 });
  const deadline = Date.now() + timeoutMs;
  for (let r = tryAcquire(lockFile); !r.ok; r = tryAcquire(lockFile)) {
    if (Date.now() > deadline) throw lockError(lockFile, r.holder);
    await new Promise((res) => setTimeout(res, 20));
  }
  try {
    return await fn();
  } finally {
    release(lockFile);
  }
}
