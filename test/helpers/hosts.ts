/**
 * A two-host lab for end-to-end firewall tests: server netns (runs difw) and client netns,
 * joined by a veth. Addresses: server 198.18.60.1 / 2001:db8:60::1, clients .2 and .3 / ::2.
 * The listener is test/fixtures/netprobe.py; every probe is bounded (0.5 s).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { REPO, createNetns, deleteNetns, execIn, vethPair, type ExecResult, type VethPair } from './env.js';

export const SERVER4 = '198.18.60.1';
export const SERVER6 = '2001:db8:60::1';
export const CLIENT4 = '198.18.60.2';
export const CLIENT4B = '198.18.60.3';
export const CLIENT6 = '2001:db8:60::2';
export const DIFW = join(REPO, 'bin', 'difw');
const NETPROBE = join(REPO, 'test', 'fixtures', 'netprobe.py');

export type Outcome = 'open' | 'refused' | 'timeout' | string;
export interface Probe {
  src: string;
  dst: string;
  proto: 'tcp' | 'udp' | 'icmp';
  port: number;
  count?: number;
}

export class Hosts {
  readonly server: string;
  readonly client: string;
  readonly link: VethPair;
  private procs: ChildProcess[] = [];

  constructor(prefix: string) {
    this.server = createNetns(prefix);
    this.client = createNetns(prefix);
    this.link = vethPair(this.server, this.client, {
      prefix,
      addrA: [`${SERVER4}/24`, `${SERVER6}/64`],
      addrB: [`${CLIENT4}/24`, `${CLIENT4B}/24`, `${CLIENT6}/64`],
    });
  }

  /** difw in the server namespace. */
  difw(args: string[], opts: { input?: string; timeoutMs?: number } = {}): ExecResult {
    return execIn(this.server, [DIFW, ...args], opts);
  }

  mustDifw(args: string[], opts: { input?: string; timeoutMs?: number } = {}): string {
    const r = this.difw(args, opts);
    if (r.status !== 0) throw new Error(`difw ${args.join(' ')} failed (${r.status}): ${r.stdout}${r.stderr}`);
    return r.stdout;
  }

  /** Start a listener in `side`; resolves once it is ready. */
  async listen(side: 'server' | 'client', spec: { tcp?: number[]; udp?: number[] }): Promise<void> {
    const ns = side === 'server' ? this.server : this.client;
    const p = spawn('ip', ['netns', 'exec', ns, 'python3', NETPROBE, 'listen', JSON.stringify(spec)], { stdio: ['ignore', 'pipe', 'inherit'] });
    this.procs.push(p);
    const rl = createInterface({ input: p.stdout! });
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('listener did not start in 10 s')), 10_000);
      rl.once('line', () => {
        clearTimeout(t);
        resolve();
      });
      p.once('exit', (c) => reject(new Error(`listener exited ${c}`)));
    });
  }

  /** Run probes from `side`, in order. */
  probe(side: 'server' | 'client', probes: Probe[]): Array<Outcome | Outcome[]> {
    const ns = side === 'server' ? this.server : this.client;
    const r = execIn(ns, ['python3', NETPROBE, 'probe'], { input: JSON.stringify(probes), timeoutMs: 120_000 });
    if (r.status !== 0) throw new Error(`probe failed: ${r.stderr}`);
    return JSON.parse(r.stdout) as Array<Outcome | Outcome[]>;
  }

  /** One probe from the client to the server. */
  reach(proto: 'tcp' | 'udp' | 'icmp', port: number, src = CLIENT4): Outcome {
    return this.probe('client', [{ src, dst: src.includes(':') ? SERVER6 : SERVER4, proto, port }])[0] as Outcome;
  }

  /** The server namespace's difw paths (state, run dir, agent pid file). */
  serverPaths(): { stateDir: string; runDir: string; pidFile: string } {
    const id = `ns-${statSync(`/run/netns/${this.server}`).ino}`;
    return { stateDir: `/var/lib/difw/${id}`, runDir: `/run/difw/${id}`, pidFile: `/run/difw/${id}/agent.pid` };
  }

  agentPid(): number | undefined {
    try {
      return Number(readFileSync(this.serverPaths().pidFile, 'utf8')) || undefined;
    } catch {
      return undefined;
    }
  }

  destroy(): void {
    const paths = this.serverPaths();
    execIn(this.server, [DIFW, '--force', 'disable'], { timeoutMs: 30_000 });
    const pid = this.agentPid();
    if (pid) {
      try {
        // Only our own agent: its pid file lives in this test namespace's run dir.
        if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('agent')) process.kill(pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    rmSync(paths.stateDir, { recursive: true, force: true });
    rmSync(paths.runDir, { recursive: true, force: true });
    for (const p of this.procs) p.kill('SIGKILL');
    this.procs = [];
    deleteNetns(this.server);
    deleteNetns(this.client);
  }
}
