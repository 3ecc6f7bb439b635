/**
 * `agentControl`: how the CLI starts, reloads and stops the per-namespace agent.
 * The agent is a detached child (`difw agent`) in the same network namespace; the CLI talks to
 * it over its unix socket and never holds datapath state itself.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DifwError } from '../errors.js';
import { runningAgentPid, type NetnsPaths } from '../state/paths.js';
import type { AgentControl } from './control.js';
import { callAgent } from './client.js';

const MAIN = join(dirname(fileURLToPath(import.meta.url)), '..', 'cli', 'main.js');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// Only ever signal a process that is really a difw agent (pid files can be stale).
const agentPid = (paths: NetnsPaths): number | undefined => runningAgentPid(paths.pidFile);

async function waitGone(pid: number, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    try {
      process.kill(pid, 0);
    } catch {
      return true;
    }
    await sleep(20);
  }
  return false;
}

function logTail(path: string): string {
  try {
    const lines = readFileSync(path, 'utf8').trim().split('\n').slice(-5);
    return lines
      .map((l) => {
        try {
          const j = JSON.parse(l) as { msg?: string; err?: { message?: string } };
          return [j.msg, j.err?.message].filter(Boolean).join(': ');
        } catch {
          return l;
        }
      })
      .join('; ');
  } catch {
    return 'no agent log';
  }
}

async function running(paths: NetnsPaths): Promise<boolean> {
  if (!existsSync(paths.socket)) return false;
  try {
    await callAgent(paths.socket, 'GET', '/v1/health', undefined, 3000);
    return true;
  } catch {
    return false;
  }
}

async function start(paths: NetnsPaths, opts: { force?: boolean } = {}): Promise<void> {
  if (await running(paths)) {
    await reload(paths);
    return;
  }
  const stale = agentPid(paths);
  if (stale !== undefined) {
    // Alive but not answering: a hung agent. The datapath stays attached while we replace it.
    process.kill(stale, 'SIGKILL');
    await waitGone(stale, 5000);
  }
  void opts;
  mkdirSync(paths.runDir, { recursive: true, mode: 0o700 });
  const logFd = openSync(join(paths.runDir, 'agent.stderr'), 'a', 0o600);
  const child = spawn(process.execPath, ['--enable-source-maps', MAIN, 'agent'], {
    detached: true,
    stdio: ['ignore', 'ignore', logFd],
    env: process.env,
  });
  closeSync(logFd);
  let exited: number | null | undefined;
  child.on('exit', (code) => (exited = code));
  child.unref();
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (exited !== undefined) break;
    if (await running(paths)) return;
    await sleep(50);
  }
  if (exited === undefined && child.pid) process.kill(child.pid, 'SIGKILL');
  const why = logTail(paths.agentLog);
  let stderr = '';
  try {
    stderr = readFileSync(join(paths.runDir, 'agent.stderr'), 'utf8').trim().split('\n').slice(-3).join('; ');
  } catch {
    /* none */
  }
  throw new DifwError('DIFW_E_AGENT', `Cannot start the agent (${exited === undefined ? 'no answer in 30 s' : `exit ${exited}`}): ${why}${stderr ? ` | ${stderr}` : ''}`);
}

async function reload(paths: NetnsPaths): Promise<void> {
  await callAgent(paths.socket, 'POST', '/v1/reload', {});
}

async function stop(paths: NetnsPaths): Promise<void> {
  const pid = agentPid(paths);
  if (await running(paths)) {
    await callAgent(paths.socket, 'POST', '/v1/shutdown', { detach: true });
    if (pid !== undefined && !(await waitGone(pid, 10_000))) process.kill(pid, 'SIGKILL');
    return;
  }
  if (pid !== undefined) {
    process.kill(pid, 'SIGKILL');
    await waitGone(pid, 5000);
  }
  // No agent, but a killed one may have left the datapath attached: remove it ourselves.
  const { detachAll } = await import('./detach.js');
  await detachAll(paths);
  rmSync(paths.pidFile, { force: true });
  rmSync(paths.socket, { force: true });
}

export const agentControl: AgentControl = { start, reload, stop, running };
