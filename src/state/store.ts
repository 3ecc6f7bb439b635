/**
 * The persisted firewall state of one network namespace: `netnsPaths().stateFile`, JSON,
 * validated with zod on every load (a corrupt or hand-edited file is reported, never half-used),
 * written atomically (temp file + fsync + rename). A missing file means ufw's installed defaults.
 *
 * Writers hold `paths.lockFile` (see `mutateState`), so concurrent commands serialize: each reads
 * the state after the previous one saved it.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { netnsCookie } from '../bpf/libbpf.js';
import { z } from 'zod';
import { DifwError } from '../errors.js';
import { DEFAULT_STATE, type FirewallState } from '../ufw/model.js';
import { writeFileAtomic, withLockAsync } from './atomic.js';
import { NETNS_ID, type NetnsPaths } from './paths.js';
import { liveNetnsInodes, sweepDeadNamespaces } from './gc.js';

const policy = z.enum(['allow', 'deny', 'reject']);

export const ruleSchema = z
  .object({
    action: z.enum(['allow', 'deny', 'reject', 'limit']),
    direction: z.enum(['in', 'out']),
    forward: z.boolean(),
    protocol: z.string().min(1),
    src: z.string().min(1),
    dst: z.string().min(1),
    sport: z.string().min(1),
    dport: z.string().min(1),
    sapp: z.string(),
    dapp: z.string(),
    ifaceIn: z.string(),
    ifaceOut: z.string(),
    logtype: z.enum(['', 'log', 'log-all']),
    v6: z.boolean(),
    comment: z.string(),
  })
  .strict();

export const stateSchema = z
  .object({
    version: z.literal(1),
    enabled: z.boolean(),
    defaults: z.object({ incoming: policy, outgoing: policy, routed: z.union([policy, z.literal('disabled')]) }).strict(),
    logging: z.enum(['off', 'low', 'medium', 'high', 'full']),
    rules: z.array(ruleSchema),
    rules6: z.array(ruleSchema),
    appPolicy: z.enum(['allow', 'deny', 'reject', 'skip']).optional(),
    ipv6: z.boolean().optional(),
  })
  .strict()
  .superRefine((s, ctx) => {
    s.rules.forEach((r, i) => {
      if (r.v6) ctx.addIssue({ code: 'custom', path: ['rules', i, 'v6'], message: 'IPv6 rule in the IPv4 list' });
    });
    s.rules6.forEach((r, i) => {
      if (!r.v6) ctx.addIssue({ code: 'custom', path: ['rules6', i, 'v6'], message: 'IPv4 rule in the IPv6 list' });
    });
  });

export function defaultState(): FirewallState {
  return structuredClone(DEFAULT_STATE);
}

/** Validate an untrusted object as a FirewallState; throws DIFW_E_STATE naming the first problem. */
export function parseState(data: unknown, origin = 'state'): FirewallState {
  const r = stateSchema.safeParse(data);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new DifwError('DIFW_E_STATE', `Cannot use ${origin}: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  return r.data as FirewallState;
}

/**
 * nsfs inode numbers are reused: a namespace created after another was deleted can get its
 * number, and so its state dir. The namespace cookie (never reused during a boot) saved beside
 * the state tells them apart; the host's state is kept across reboots, so it is not checked.
 */
const cookieFile = (paths: NetnsPaths) => join(paths.stateDir, 'netns-cookie');

function belongsToAnotherNamespace(paths: NetnsPaths): boolean {
  if (paths.id === 'host') return false;
  let saved: string;
  try {
    saved = readFileSync(cookieFile(paths), 'utf8').trim();
  } catch {
    return false;
  }
  const now = netnsCookie();
  return now !== undefined && saved !== String(now);
}

/** Load the namespace's state; ufw's defaults when no state was saved yet. */
export function loadState(paths: NetnsPaths): FirewallState {
  if (belongsToAnotherNamespace(paths)) return defaultState();
  let text: string;
  try {
    text = readFileSync(paths.stateFile, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return defaultState();
    throw new DifwError('DIFW_E_STATE', `Cannot read ${paths.stateFile}: ${(e as Error).message}`, { cause: e });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new DifwError('DIFW_E_STATE', `Cannot parse ${paths.stateFile}: ${(e as Error).message}`, { cause: e });
  }
  return parseState(json, paths.stateFile);
}

/** Serialise a state (validated first, so a bad state is never written). */
export function serializeState(state: FirewallState): string {
  return `${JSON.stringify(parseState(state, 'the new state'), null, 1)}\n`;
}

/** Save atomically. Callers hold the namespace lock (see mutateState). */
export function saveState(paths: NetnsPaths, state: FirewallState): void {
  const first = !existsSync(paths.stateFile);
  writeFileAtomic(paths.stateFile, serializeState(state), 0o600);
  const cookie = paths.id === 'host' ? undefined : netnsCookie();
  if (cookie !== undefined) writeFileAtomic(cookieFile(paths), `${cookie}\n`, 0o600);
  // A namespace new to difw: a good moment to drop what dead ones left behind (src/state/gc.ts).
  // Best effort: a failed sweep leaves leftovers, never a failed command.
  if (first && NETNS_ID.test(paths.id)) {
    try {
      sweepDeadNamespaces(liveNetnsInodes());
    } catch {
      /* leftovers stay until the next sweep */
    }
  }
}

/**
 * Run a read-modify-write under the namespace lock. `fn` gets a fresh copy of the saved state
 * and returns the state to save, or null to leave the file untouched.
 */
export async function mutateState<T>(
  paths: NetnsPaths,
  fn: (state: FirewallState) => Promise<{ save: FirewallState | null; result: T }>,
): Promise<T> {
  return withLockAsync(paths.lockFile, async () => {
    const { save, result } = await fn(loadState(paths));
    if (save) saveState(paths, save);
    return result;
  });
}
