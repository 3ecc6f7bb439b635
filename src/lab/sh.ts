/**
 * Running the system tools the lab is built with (ip, nsenter, mount). Every failure becomes a
 * DifwError "Cannot <what>: <stderr>", so the CLI reports what it was doing and why it failed.
 * Commands run synchronously: a lab is built step by step and each step must have happened
 * before the next one starts (a veth must exist before it gets an address).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { DifwError } from '../errors.js';

export function run(what: string, cmd: string, args: string[], input?: string): string {
  try {
    return execFileSync(cmd, args, {
      input,
      encoding: 'utf8',
      stdio: ['pipe', 'pipe', 'pipe'],
      timeout: 30_000,
    });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    const detail = (err.stderr || err.message || '').toString().trim().split('\n').slice(-3).join('; ');
    throw new DifwError('DIFW_E_LAB', `Cannot ${what}: ${detail}`, { cause: e });
  }
}

/** Same as run, but never throws: for teardown, where every step is attempted. */
export function tryRun(cmd: string, args: string[], input?: string): { ok: boolean; out: string; err: string } {
  const r = spawnSync(cmd, args, { input, encoding: 'utf8', timeout: 30_000 });
  return { ok: r.status === 0, out: r.stdout ?? '', err: r.stderr ?? '' };
}

/** `ip -n NETNS -batch -`: many ip commands in one process (one fork instead of dozens). */
export function ipBatch(what: string, netns: string | null, lines: string[]): void {
  if (!lines.length) return;
  const args = netns ? ['-n', netns, '-batch', '-'] : ['-batch', '-'];
  run(what, 'ip', args, lines.join('\n') + '\n');
}

/** Write sysctls (path under /proc/sys, value) inside a named netns. */
export function sysctls(what: string, netns: string, kv: Array<[string, string]>): void {
  const script = kv.map(([k, v]) => `echo ${v} > /proc/sys/${k.replace(/\./g, '/')}`).join(' && ');
  run(what, 'nsenter', [`--net=/run/netns/${netns}`, '--', 'sh', '-c', script]);
}

export function netnsList(): string[] {
  const r = tryRun('ip', ['netns', 'list']);
  return r.out
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter(Boolean);
}

export function netnsPids(netns: string): number[] {
  const r = tryRun('ip', ['netns', 'pids', netns]);
  return r.out
    .split('\n')
    .map((l) => Number(l.trim()))
    .filter((n) => Number.isInteger(n) && n > 0);
}
