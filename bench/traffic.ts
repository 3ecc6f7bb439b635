/**
 * One measurement cell: a bounded burst of traffic from the client namespace to the server
 * namespace, counted at the receiver.
 *
 * CPU placement on the 2-core machine: the sender runs on CPU 0 and the receiver on CPU 1
 * (taskset). A veth delivers in the sender's softirq context, so CPU 0 carries the sender, the
 * veth, the receive path and the firewall; CPU 1 only copies datagrams out (UDP) or accepts and
 * closes (TCP). Throughput is therefore bound by the work the firewall adds on CPU 0.
 */
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { bg, sh } from './sh.js';
import { ROOT } from './difw.js';
import type { Pair } from './topo.js';
import { FLOW_PORT } from './rules.js';

const SRC = join(ROOT, 'bench', 'nettool.c');
export const NETTOOL = join(ROOT, 'build', 'bench', 'nettool');

/** Build bench/nettool.c if the binary is missing or older than the source. */
export function buildNettool(): void {
  if (existsSync(NETTOOL) && statSync(NETTOOL).mtimeMs >= statSync(SRC).mtimeMs) return;
  mkdirSync(join(ROOT, 'build', 'bench'), { recursive: true });
  sh('compile bench/nettool.c', 'cc', ['-O2', '-Wall', '-o', NETTOOL, SRC]);
}

export interface CellResult {
  /** packets (or connections) per second over the measured window. */
  rate: number;
  count: number;
  /**
   * CPU time of the sending process per packet (or per connection), in ns. On a veth the
   * receive path, firewall included, runs inline in the sender's context, so this is the cost
   * of one packet end to end on the sending core; unlike the rate it does not drop when other
   * processes take the core away.
   */
  cpuNsPerOp: number;
  detail: string;
}

const n = (s: string, key: string): number => {
  const m = new RegExp(`${key} (\\d+)`).exec(s);
  if (!m) throw new Error(`nettool printed no "${key}": ${s.trim().slice(0, 200)}`);
  return Number(m[1]);
};

/** UDP datagrams/s delivered to the receiving socket (payload `len` bytes). */
export async function udpCell(p: Pair, seconds: number, warmup: number, len = 64): Promise<CellResult> {
  const recv = bg('ip', ['netns', 'exec', p.srv, 'taskset', '-c', '1', NETTOOL, 'udp-recv', String(FLOW_PORT), String(seconds), String(warmup)]);
  await recv.waitLine(/^ready$/, 10_000);
  const sendFor = seconds + warmup + 0.5;
  const send = bg('ip', ['netns', 'exec', p.cli, 'taskset', '-c', '0', NETTOOL, 'udp-send', p.srvAddr, String(FLOW_PORT), String(sendFor), String(len)]);
  const limit = (sendFor + 10) * 1000;
  const [s, r] = await Promise.all([send.done(limit), recv.done(limit)]);
  if (r.code !== 0) throw new Error(`receiver failed: ${r.err.trim() || r.code}`);
  if (s.code !== 0) throw new Error(`sender failed: ${s.err.trim() || s.code}`);
  const count = n(r.out, 'recv');
  const ns = n(r.out, 'elapsed_ns');
  const sent = n(s.out, 'sent');
  const cpu = n(s.out, 'cpu_ns');
  return { rate: ns ? (count * 1e9) / ns : 0, count, cpuNsPerOp: sent ? cpu / sent : 0, detail: `sent ${sent} in ${sendFor}s` };
}

/** TCP connections/s: blocking connect() + RST close in a loop, listener accepts and closes. */
export async function tcpCell(p: Pair, seconds: number, warmup: number): Promise<CellResult> {
  const serveFor = seconds + warmup + 1;
  const srv = bg('ip', ['netns', 'exec', p.srv, 'taskset', '-c', '1', NETTOOL, 'tcp-server', String(FLOW_PORT), String(serveFor)]);
  await srv.waitLine(/^ready$/, 10_000);
  const cli = bg('ip', ['netns', 'exec', p.cli, 'taskset', '-c', '0', NETTOOL, 'tcp-connect', p.srvAddr, String(FLOW_PORT), String(seconds), String(warmup)]);
  const limit = (serveFor + 10) * 1000;
  const [c, s] = await Promise.all([cli.done(limit), srv.done(limit)]);
  if (c.code !== 0) throw new Error(`client failed: ${c.err.trim() || c.code}`);
  if (s.code !== 0) throw new Error(`server failed: ${s.err.trim() || s.code}`);
  const count = n(c.out, 'conns');
  const ns = n(c.out, 'elapsed_ns');
  const failed = n(c.out, 'failed');
  const cpu = n(c.out, 'cpu_ns');
  return { rate: ns ? (count * 1e9) / ns : 0, count, cpuNsPerOp: count ? cpu / count : 0, detail: `${failed} failed connects` };
}
