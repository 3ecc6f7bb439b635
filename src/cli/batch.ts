/**
 * `difw batch -f FILE|-`: many ufw commands applied as one atomic change. Every line is a ufw
 * command without the program name (blank lines and `#` comments skipped). All lines are parsed
 * and applied to an in-memory copy of the state; only if every line is valid is the state
 * validated, written once and the datapath reloaded once. On the first bad line difw prints
 * ufw's error for it, prefixed with the line number, and changes nothing.
 *
 * Allowed: rule commands (allow/deny/reject/limit, route, insert, prepend, delete RULE,
 * delete NUM without a prompt), default, logging, app default. Commands that are not edits of
 * the rule set (enable, disable, reset, reload, status, show, app list/info/update) are refused.
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { netnsPaths } from '../state/paths.js';
import { withLockAsync } from '../state/atomic.js';
import { loadState } from '../state/store.js';
import { loadProfiles } from '../ufw/apps.js';
import { UfwError, UfwSyntaxError, parseUfwArgs, shellSplit } from '../ufw/grammar.js';
import { M } from '../ufw/messages.js';
import type { FirewallState } from '../ufw/model.js';
import { applyMutation, commitState, makeEditor, type AgentEffect, type Io, processIo } from './ufw-commands.js';

export interface BatchResult {
  status: number;
  lines: number;
  state: FirewallState;
}

/** Parse and apply `text` to `state` in memory. Returns the line count or throws BatchLineError. */
export class BatchLineError extends Error {
  constructor(
    readonly line: number,
    message: string,
  ) {
    super(message);
  }
}

export function applyBatchText(
  text: string,
  state: FirewallState,
  opts: { dryRun?: boolean } = {},
): { lines: number; effect: AgentEffect; warnings: string[]; changed: boolean } {
  const dryRun = !!opts.dryRun;
  const profiles = loadProfiles();
  const editor = makeEditor(state, { profiles, dryRun });
  let lines = 0;
  let effect: AgentEffect = 'none';
  let changed = false;
  const warnings: string[] = [];
  const rows = text.split('\n');
  for (let i = 0; i < rows.length; i++) {
    const raw = rows[i]!.trim();
    if (raw === '' || raw.startsWith('#')) continue;
    const lineNo = i + 1;
    try {
      let words = shellSplit(raw);
      if (words[0] === 'ufw' || words[0] === 'difw') words = words.slice(1);
      const parsed = parseUfwArgs(words);
      const cmd = parsed.command;
      if (parsed.dryRun) throw new UfwError('--dry-run is not allowed inside a batch');
      const editKinds = ['rule', 'delete-number', 'default', 'logging'];
      const isAppDefault = cmd.kind === 'app' && cmd.action.startsWith('default-') && parsed.appAction;
      if (!editKinds.includes(cmd.kind) && !isAppDefault) {
        throw new UfwError(`'${words.join(' ')}' cannot be used in a batch (only rule, default, logging and app default commands)`);
      }
      if (cmd.kind === 'delete-number') {
        const n = cmd.number.startsWith('-') ? NaN : Number(cmd.number);
        if (Number.isNaN(n)) throw new UfwError(M.couldNotFindRule(''));
        if (n <= 0 || n > editor.rawCount() || !editor.ruleByNumber(n)) throw new UfwError(M.couldNotFindRule(n));
      }
      const r = applyMutation(cmd, state, { profiles, dryRun, editor });
      for (const w of r.warnings) warnings.push(`line ${lineNo}: ${w}`);
      if (r.changed) changed = true;
      if (r.effect === 'reload') effect = 'reload';
      lines++;
    } catch (e) {
      if (e instanceof UfwError || e instanceof UfwSyntaxError) throw new BatchLineError(lineNo, e.message);
      throw e;
    }
  }
  return { lines, effect, warnings, changed };
}

/** Run a batch against this namespace's state under its lock. Returns the exit status. */
export async function runBatch(source: string, opts: { dryRun?: boolean }, io: Io = processIo): Promise<number> {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    io.err(`ERROR: ${M.notRoot}\n`);
    return 1;
  }
  let text: string;
  try {
    text = readFileSync(source === '-' ? 0 : source, 'utf8');
  } catch (e) {
    io.err(`ERROR: Cannot read ${source === '-' ? 'stdin' : source}: ${(e as Error).message}\n`);
    return 1;
  }
  const paths = netnsPaths();
  try {
    return await withLockAsync(paths.lockFile, async () => {
      const state = loadState(paths);
      const r = applyBatchText(text, state, opts);
      for (const w of r.warnings) io.err(`WARN: ${w}\n`);
      if (!opts.dryRun && r.changed) await commitState(paths, state, r.effect, io);
      io.out(`Batch applied: ${r.lines} command${r.lines === 1 ? '' : 's'}${opts.dryRun ? ' (dry run, nothing saved)' : ''}\n`);
      return 0;
    });
  } catch (e) {
    if (e instanceof BatchLineError) {
      io.err(`line ${e.line}: ERROR: ${e.message}\n`);
      return 1;
    }
    if (e instanceof UfwError) {
      io.err(`ERROR: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}

export function registerBatchCommand(program: Command): void {
  program
    .command('batch')
    .description('apply many ufw commands (one per line) as one atomic change')
    .requiredOption('-f, --file <file>', "file of ufw commands, '-' for stdin")
    .option('--dry-run', 'check every line, save nothing')
    .action(async (opts: { file: string; dryRun?: boolean }) => {
      process.exitCode = await runBatch(opts.file, { dryRun: !!opts.dryRun });
    });
}
