/**
 * Process helpers for the benchmark harness, and the cleanup stack every step registers with.
 *
 * Limits: everything here runs tools the harness itself starts. Background children are spawned
 * in their own process group (detached) so a Ctrl-C reaches only the harness, which then kills
 * each child by its pid and unwinds the cleanup stack in order (see `cleanupAll`).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';

export class BenchError extends Error {}

export interface ShOptions {
  input?: string;
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

function run(cmd: string, args: string[], opts: ShOptions, defaultTimeoutMs: number) {
  return spawnSync(cmd, args, {
    input: opts.input,
    encoding: 'utf8',
    timeout: opts.timeoutMs ?? defaultTimeoutMs,
    env: opts.env ?? process.env,
    maxBuffer: 64 << 20,
  });
}

/** Run a command to completion; throws BenchError("Cannot <what>: <stderr tail>") on failure. */
export function sh(what: string, cmd: string, args: string[], opts: ShOptions = {}): string {
  const r = run(cmd, args, opts, 120_000);
  if (r.status !== 0) {
    const detail = (r.stderr || r.stdout || String(r.error ?? `exit ${r.status ?? r.signal}`))
      .toString()
      .trim()
      .split('\n')
      .slice(-3)
      .join('; ');
    throw new BenchError(`Cannot ${what}: ${detail}`);
  }
  return r.stdout;
}

/** Same as sh but never throws: for probes and teardown. */
export function trySh(cmd: string, args: string[], opts: ShOptions = {}): { ok: boolean; out: string; err: string } {
  const r = run(cmd, args, opts, 60_000);
  return { ok: r.status === 0, out: r.stdout ?? '', err: (r.stderr ?? '') + (r.error ? String(r.error) : '') };
}

/** argv prefix that runs a command inside a named network namespace. */
export function inNs(ns: string, cmd: string, args: string[]): [string, string[]] {
  return ['ip', ['netns', 'exec', ns, cmd, ...args]];
}

// ---- background children ---------------------------------------------------------------------

const children = new Set<ChildProcess>();

export interface Bg {
  child: ChildProcess;
  /** Resolves when stdout printed a line matching `re` (or rejects on exit/timeout). */
  waitLine(re: RegExp, timeoutMs: number): Promise<string>;
  /** Resolves with the full output once the process exits; kills it after timeoutMs. */
  done(timeoutMs: number): Promise<{ code: number | null; out: string; err: string }>;
}

export function bg(cmd: string, args: string[], env?: NodeJS.ProcessEnv): Bg {
  const child = spawn(cmd, args, { detached: true, stdio: ['pipe', 'pipe', 'pipe'], env: env ?? process.env });
  children.add(child);
  let out = '';
  let err = '';
  let exited: { code: number | null } | null = null;
  const exitWaiters: Array<() => void> = [];
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  child.on('error', (e) => (err += String(e)));
  child.on('close', (code) => {
    exited = { code };
    children.delete(child);
    for (const w of exitWaiters.splice(0)) w();
  });
  return {
    child,
    waitLine(re, timeoutMs) {
      return new Promise((resolve, reject) => {
        const started = Date.now();
        const tick = (): void => {
          const m = out.split('\n').find((l) => re.test(l));
          if (m !== undefined) return resolve(m);
          if (exited) return reject(new BenchError(`Cannot start ${cmd} ${args.join(' ')}: ${err.trim() || 'exited early'}`));
          if (Date.now() - started > timeoutMs) return reject(new BenchError(`Cannot start ${args.join(' ')}: no "${re.source}" within ${timeoutMs} ms`));
          setTimeout(tick, 20);
        };
        tick();
      });
    },
    done(timeoutMs) {
      return new Promise((resolve) => {
        const finish = (): void => {
          clearTimeout(timer);
          resolve({ code: exited?.code ?? null, out, err });
        };
        const timer = setTimeout(() => {
          killChild(child);
        }, timeoutMs);
        if (exited) finish();
        else exitWaiters.push(finish);
      });
    },
  };
}

function killChild(child: ChildProcess): void {
  if (child.pid === undefined || child.exitCode !== null) return;
  try {
    process.kill(-child.pid, 'SIGKILL'); // its own process group (detached), started by us
  } catch {
    try {
      child.kill('SIGKILL');
    } catch {
      /* already gone */
    }
  }
}

export function killAllChildren(): void {
  for (const c of children) killChild(c);
}

// ---- cleanup stack ----------------------------------------------------------------------------

type Undo = { what: string; fn: () => void | Promise<void> };
const undo: Undo[] = [];

/** Register an undo step; returns a function that runs it now (once) and unregisters it. */
export function defer(what: string, fn: () => void | Promise<void>): () => Promise<void> {
  const u: Undo = { what, fn };
  undo.push(u);
  return async () => {
    const i = undo.indexOf(u);
    if (i < 0) return;
    undo.splice(i, 1);
    await runUndo(u);
  };
}

async function runUndo(u: Undo): Promise<void> {
  try {
    await u.fn();
  } catch (e) {
    process.stderr.write(`bench: cleanup "${u.what}" failed: ${(e as Error).message}\n`);
  }
}

/** Kill children, then run every registered undo step, newest first. */
export async function cleanupAll(): Promise<void> {
  killAllChildren();
  while (undo.length) await runUndo(undo.pop()!);
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
