/**
 * Runs ufw's command line against difw's per-namespace state: parse (src/ufw/grammar.ts), check
 * root, edit the state under the namespace lock, validate that it compiles, save it atomically,
 * then tell the agent (start / reload / stop). Messages, prompts and exit codes are ufw's.
 *
 * A command that fails changes nothing: edits happen on the freshly loaded copy, which is saved
 * only after the whole command succeeded.
 */
import { readFileSync, readSync, readdirSync, existsSync, renameSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { agentControl } from '../agent/index.js';
import { isDifwError } from '../errors.js';
import { netnsPaths, type NetnsPaths } from '../state/paths.js';
import { withLockAsync, writeFileAtomic } from '../state/atomic.js';
import { loadState, saveState } from '../state/store.js';
import type { AppPolicy, FirewallState } from '../ufw/model.js';
import { HELP_TEXT, M, UFW_COMPAT_VERSION } from '../ufw/messages.js';
import { UfwError, UfwSyntaxError, parseUfwArgs, formatAddedLine, type ParsedCommand, type UfwCommand } from '../ufw/grammar.js';
import { RuleEditor, type EditResult } from '../ufw/rules.js';
import { appInfoText, appListText, loadProfiles, wrapText, type ProfileSet } from '../ufw/apps.js';
import { renderShowAdded, renderStatus } from '../ufw/status.js';
import { updateAppProfile } from '../ufw/app-update.js';

/** Where the command writes; tests substitute buffers. */
export interface Io {
  out(s: string): void;
  err(s: string): void;
  /** One line from stdin ('' at end of input or when stdin is closed), like Python's readline(). */
  readLine(): string;
}

export const processIo: Io = {
  out: (s) => process.stdout.write(s),
  err: (s) => process.stderr.write(s),
  readLine: () => {
    const buf = Buffer.alloc(1);
    let line = '';
    for (;;) {
      let n = 0;
      try {
        n = readSync(0, buf, 0, 1, null);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EAGAIN') continue;
        return line; // EBADF (stdin closed) or another error: no answer
      }
      if (n === 0) return line;
      const c = buf.toString('latin1');
      line += c;
      if (c === '\n') return line;
    }
  },
};


const COMPILER_MODULE = '../policy/ufw-compile.js';
interface Compiler {
  compileFirewall(state: FirewallState, opts: { ifindex: (name: string) => number | undefined }): unknown;
}

/** ifindex of an interface in this network namespace (ip netns exec mounts the namespace's /sys). */
function ifindexOf(name: string): number | undefined {
  try {
    return Number(readFileSync(`/sys/class/net/${name}/ifindex`, 'utf8').trim());
  } catch {
    return undefined;
  }
}

/**
 * Compile the state the way the agent will before it is saved. A state the datapath cannot hold
 * (DIFW_E_CAPACITY) is refused: the command fails and nothing changes. Other compile problems
 * (a rule shape the datapath does not support yet) do not make ufw's command invalid, so they
 * are returned as warnings and the state is saved.
 */
export async function compileCheck(state: FirewallState): Promise<{ error: string | null; warning: string | null }> {
  let mod: Compiler;
  try {
    mod = (await import(COMPILER_MODULE)) as Compiler;
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    // tolerated only while the compiler module is absent from the build
    if (err.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes('ufw-compile')) return { error: null, warning: null };
    throw e;
  }
  try {
    mod.compileFirewall(state, { ifindex: ifindexOf });
    return { error: null, warning: null };
  } catch (e) {
    if (isDifwError(e, 'DIFW_E_CAPACITY')) return { error: e.message, warning: null };
    return { error: null, warning: (e as Error).message };
  }
}

/** Is this process (or an ancestor) an sshd session? ufw then asks before disrupting the firewall. */
export function underSsh(pid = process.pid): boolean {
  for (let p = pid, guard = 0; p > 1 && guard < 256; guard++) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${p}/stat`, 'utf8');
    } catch {
      return false;
    }
    const close = stat.lastIndexOf(')');
    const ppid = Number(stat.slice(close + 2).split(' ')[1]);
    if (!(ppid > 1)) return false;
    try {
      const pstat = readFileSync(`/proc/${ppid}/stat`, 'utf8');
      if (pstat.slice(pstat.indexOf('('), pstat.lastIndexOf(')') + 1) === '(sshd)') return true;
    } catch {
      return false;
    }
    p = ppid;
  }
  return false;
}

/** IP forwarding in this namespace (ufw shows the routed policy as "disabled" without it). */
export function forwardingEnabled(ipv6: boolean): boolean {
  const on = (f: string) => {
    try {
      return readFileSync(f, 'utf8').trim() === '1';
    } catch {
      return false;
    }
  };
  if (on('/proc/sys/net/ipv4/ip_forward')) return true;
  return ipv6 && (on('/proc/sys/net/ipv6/conf/default/forwarding') || on('/proc/sys/net/ipv6/conf/all/forwarding'));
}

const answeredYes = (ans: string) => {
  const a = ans.toLowerCase().trim();
  return a === 'y' || a === 'yes';
};

/** What to tell the agent after the state was saved. */
export type AgentEffect = 'none' | 'start' | 'reload' | 'stop';

export interface MutationOutcome {
  output: string;
  warnings: string[];
  /** The state changed and must be saved. */
  changed: boolean;
  effect: AgentEffect;
}

export interface MutationContext {
  profiles: ProfileSet;
  dryRun: boolean;
  /** Reused across the lines of a batch so appends stay O(1). */
  editor?: RuleEditor;
}

export function makeEditor(state: FirewallState, ctx: { profiles: ProfileSet; dryRun: boolean }): RuleEditor {
  return new RuleEditor(state, {
    enabled: state.enabled,
    dryRun: ctx.dryRun,
    ipv6: state.ipv6 !== false,
    limit6: !ctx.dryRun,
    profiles: ctx.profiles,
  });
}

const ruleEffect = (state: FirewallState, r: EditResult, dryRun: boolean): AgentEffect =>
  r.changed && state.enabled && !dryRun ? 'reload' : 'none';

/**
 * Apply one state-changing command (rule edits, `delete NUM` once confirmed, default, logging,
 * `app default`) to `state` in memory. Throws UfwError with ufw's message.
 */
export function applyMutation(cmd: UfwCommand, state: FirewallState, ctx: MutationContext): MutationOutcome {
  const editor = () => ctx.editor ?? makeEditor(state, ctx);
  switch (cmd.kind) {
    case 'rule': {
      const r = editor().applyRule(cmd);
      return { output: r.output, warnings: r.warnings, changed: r.changed, effect: ruleEffect(state, r, ctx.dryRun) };
    }
    case 'delete-number': {
      const r = editor().deleteNumber(Number(cmd.number));
      return { output: r.output, warnings: r.warnings, changed: r.changed, effect: ruleEffect(state, r, ctx.dryRun) };
    }
    case 'default': {
      if (cmd.direction === 'routed') state.defaults.routed = cmd.policy;
      else state.defaults[cmd.direction] = cmd.policy;
      return {
        output: M.defaultChanged(cmd.direction, cmd.policy),
        warnings: [],
        changed: true,
        effect: state.enabled && !ctx.dryRun ? 'reload' : 'none',
      };
    }
    case 'logging': {
      let level = cmd.level;
      if (level === 'on') level = state.logging === 'off' ? 'low' : state.logging;
      state.logging = level;
      return {
        output: level === 'off' ? M.loggingDisabled : M.loggingEnabled,
        warnings: [],
        changed: true,
        effect: state.enabled && !ctx.dryRun ? 'reload' : 'none',
      };
    }
    case 'app': {
      if (!cmd.action.startsWith('default-')) break;
      const p = cmd.action.slice('default-'.length) as AppPolicy;
      state.appPolicy = p;
      return { output: M.appPolicyChanged(p), warnings: [], changed: true, effect: 'none' };
    }
    default:
      break;
  }
  throw new UfwError(`Cannot apply '${cmd.kind}' here`);
}

/**
 * Validate, save and tell the agent. Caller holds the lock. If the agent cannot take the new
 * state, the previous state file is put back, so a failed command leaves nothing changed.
 */
export async function commitState(paths: NetnsPaths, state: FirewallState, effect: AgentEffect, io: Io = processIo): Promise<void> {
  const check = await compileCheck(state);
  if (check.error !== null) throw new UfwError(check.error);
  if (check.warning !== null) io.err(`WARN: ${check.warning}\n`);
  let previous: string | null = null;
  try {
    previous = readFileSync(paths.stateFile, 'utf8');
  } catch {
    /* first save */
  }
  saveState(paths, state);
  try {
    if (effect === 'reload' || effect === 'start') {
      // an enabled firewall whose agent is gone (crash, reboot) gets it back
      if (effect === 'reload' && (await agentControl.running(paths))) await agentControl.reload(paths);
      else await agentControl.start(paths);
    } else if (effect === 'stop') await agentControl.stop(paths);
  } catch (e) {
    if (previous !== null) writeFileAtomic(paths.stateFile, previous, 0o600);
    else rmSync(paths.stateFile, { force: true });
    throw new UfwError((e as Error).message);
  }
}

/** How many reset backups of the state file are kept (ufw keeps all; difw prunes the oldest). */
const MAX_STATE_BACKUPS = 10;

/**
 * `reset`: back up the state file like ufw backs up its rules files. ufw aborts when a backup
 * with the same second-resolution name exists; difw's backups are its own, so a second reset
 * within one second gets a numbered name instead of failing.
 */
function backupState(paths: NetnsPaths): string {
  if (!existsSync(paths.stateFile)) return '';
  const d = new Date();
  const p2 = (n: number) => String(n).padStart(2, '0');
  const ext = `${d.getFullYear()}${p2(d.getMonth() + 1)}${p2(d.getDate())}_${p2(d.getHours())}${p2(d.getMinutes())}${p2(d.getSeconds())}`;
  let target = `${paths.stateFile}.${ext}`;
  for (let n = 1; existsSync(target); n++) target = `${paths.stateFile}.${ext}.${n}`;
  renameSync(paths.stateFile, target);
  const base = basename(paths.stateFile);
  const backups = readdirSync(dirname(paths.stateFile))
    .filter((f) => f.startsWith(`${base}.`) && /^\d{8}_\d{6}/.test(f.slice(base.length + 1)))
    .sort();
  for (const old of backups.slice(0, Math.max(0, backups.length - MAX_STATE_BACKUPS))) rmSync(join(dirname(paths.stateFile), old), { force: true });
  return M.backingUp(base, target);
}

async function run(parsed: ParsedCommand, io: Io, paths: NetnsPaths): Promise<number> {
  const { command: cmd, dryRun, force } = parsed;
  const profiles = loadProfiles();
  for (const w of profiles.warnings) io.err(`WARN: ${w}\n`);
  const say = (s: string) => {
    if (s !== '') io.out(`${s}\n`);
  };

  // read-only commands: no lock needed (the state file is replaced atomically)
  if (cmd.kind === 'status') {
    if (dryRun) {
      say('> Checking iptables\n> Checking ip6tables');
      return 0;
    }
    const state = loadState(paths);
    say(renderStatus(state, cmd.mode, { forwarding: forwardingEnabled(state.ipv6 !== false) }));
    return 0;
  }
  if (cmd.kind === 'show') {
    if (cmd.report !== 'added') {
      // ufw lists iptables chains here; difw's datapath is eBPF, so there is no such listing.
      // Exit 0 as ufw does, saying where the equivalent information is.
      say(`difw enforces the rules in eBPF, not iptables: no '${cmd.report}' listing exists. See 'status verbose' and 'show added'.`);
      return 0;
    }
    say(renderShowAdded(loadState(paths)));
    return 0;
  }
  if (cmd.kind === 'app') {
    if (!parsed.appAction) throw new UfwError(M.unsupportedAction(cmd.action));
    if (cmd.action === 'list') {
      say(appListText(profiles));
      return 0;
    }
    if (cmd.action === 'info') {
      say(appInfoText(profiles, cmd.name));
      return 0;
    }
  }
  if (cmd.kind === 'basic' && cmd.action === 'enable' && !force && underSsh()) {
    io.out(M.sshPrompt);
    if (!answeredYes(io.readLine())) {
      say(M.aborted);
      return 0;
    }
  }
  if (cmd.kind === 'basic' && cmd.action === 'reset' && !force) {
    io.out(wrapText(underSsh() ? M.resetPromptSsh : M.resetPrompt));
    if (!answeredYes(io.readLine())) {
      say(M.aborted);
      return 0;
    }
  }

  return withLockAsync(paths.lockFile, async () => {
    const state = loadState(paths);
    const save = async (effect: AgentEffect) => {
      if (!dryRun) await commitState(paths, state, effect, io);
    };
    if (cmd.kind === 'basic') {
      switch (cmd.action) {
        case 'enable': {
          if (dryRun) {
            say('> running ufw-init');
            say(M.enabled);
            return 0;
          }
          const was = state.enabled;
          state.enabled = true;
          const check = await compileCheck(state);
          if (check.error !== null) throw new UfwError(check.error);
          if (check.warning !== null) io.err(`WARN: ${check.warning}\n`);
          saveState(paths, state);
          try {
            await agentControl.start(paths, { force });
          } catch (e) {
            // like ufw: put the configuration back when the firewall did not start
            state.enabled = was;
            saveState(paths, state);
            throw new UfwError((e as Error).message);
          }
          say(M.enabled);
          return 0;
        }
        case 'disable': {
          if (dryRun) {
            say('> running ufw-init');
            say(M.disabled);
            return 0;
          }
          const was = state.enabled;
          state.enabled = false;
          saveState(paths, state);
          if (was || (await agentControl.running(paths))) await agentControl.stop(paths);
          say(M.disabled);
          return 0;
        }
        case 'reload': {
          if (!state.enabled) {
            say(M.notEnabledSkipReload);
            return 0;
          }
          if (!dryRun) {
            if (await agentControl.running(paths)) await agentControl.reload(paths);
            else await agentControl.start(paths, { force: true });
          }
          say(M.reloaded);
          return 0;
        }
        case 'reset': {
          if (dryRun) return 0;
          if (state.enabled || (await agentControl.running(paths))) await agentControl.stop(paths);
          const backup = backupState(paths);
          state.enabled = false;
          state.rules = [];
          state.rules6 = [];
          saveState(paths, state);
          say(backup);
          return 0;
        }
        default:
          throw new UfwError(M.unsupportedAction(cmd.action));
      }
    }

    if (cmd.kind === 'delete-number') {
      const n = cmd.number.startsWith('-') ? NaN : Number(cmd.number);
      if (Number.isNaN(n)) throw new UfwError(M.couldNotFindRule(''));
      const editor = makeEditor(state, { profiles, dryRun });
      if (n <= 0 || n > editor.rawCount()) throw new UfwError(M.couldNotFindRule(n));
      const rule = editor.ruleByNumber(n);
      if (!rule) throw new UfwError(M.couldNotFindRule(n));
      if (!force) {
        io.out(M.deletePrompt(formatAddedLine(rule)));
        if (!answeredYes(io.readLine())) {
          say(M.aborted);
          return 0;
        }
      }
      const r = applyMutation(cmd, state, { profiles, dryRun, editor });
      for (const w of r.warnings) io.err(`WARN: ${w}\n`);
      if (r.changed) await save(r.effect);
      say(r.output);
      return 0;
    }

    if (cmd.kind === 'app' && (cmd.action === 'update' || cmd.action === 'update-with-new')) {
      if (cmd.action === 'update-with-new' && cmd.name === 'all') throw new UfwError(M.cannotAddNewAll);
      const up = updateAppProfile(state, profiles, cmd.name);
      let text = up.output;
      let changed = up.changed;
      const reloadOk = !underSsh();
      if (up.changed && state.enabled) text += reloadOk ? M.reloaded : M.skippedReload;
      if (cmd.action === 'update-with-new' && (state.appPolicy ?? 'skip') !== 'skip') {
        // a new profile gets a rule with the default application policy
        const add = parseUfwArgs([state.appPolicy!, cmd.name]).command;
        const r = applyMutation(add, state, { profiles, dryRun });
        for (const w of r.warnings) io.err(`WARN: ${w}\n`);
        if (text !== '' && r.output !== '') text += '\n';
        text += r.output;
        changed ||= r.changed;
      }
      if (changed) await save(state.enabled && reloadOk ? 'reload' : 'none');
      say(text.replace(/\n$/, ''));
      return 0;
    }

    const r = applyMutation(cmd, state, { profiles, dryRun });
    for (const w of r.warnings) io.err(`WARN: ${w}\n`);
    if (r.changed) await save(r.effect);
    say(r.output);
    return 0;
  });
}


/** Entry point for everything that is not a difw subcommand: ufw's own command line. */
export async function runUfwCommand(argv: string[], io: Io = processIo): Promise<number> {
  let parsed: ParsedCommand;
  try {
    parsed = parseUfwArgs(argv);
  } catch (e) {
    if (e instanceof UfwSyntaxError) {
      io.err(`ERROR: ${e.message}\n`);
      io.out(`${HELP_TEXT}\n`);
      return 1;
    }
    if (e instanceof UfwError) {
      io.err(`ERROR: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
  const cmd = parsed.command;
  if (cmd.kind === 'basic' && cmd.action === 'help') {
    io.out(`${HELP_TEXT}\n`);
    return 0;
  }
  if (cmd.kind === 'basic' && cmd.action === 'version') {
    io.out(`difw ${DIFW_VERSION} (ufw ${UFW_COMPAT_VERSION} command line)\n`);
    return 0;
  }
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    io.err(`ERROR: ${M.notRoot}\n`);
    return 1;
  }
  try {
    return await run(parsed, io, netnsPaths());
  } catch (e) {
    if (e instanceof UfwError) {
      io.err(`ERROR: ${e.message}\n`);
      return 1;
    }
    if (isDifwError(e)) {
      io.err(`ERROR: ${e.message}\n`);
      return e.exitCode;
    }
    throw e;
  }
}

const DIFW_VERSION = (() => {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? '0';
  } catch {
    return '0';
  }
})();
