/**
 * Per-packet cost of an XDP program through BPF_PROG_TEST_RUN (`bpftool prog run … repeat R`,
 * which prints the kernel's average duration per run).
 *
 * What is measured: one IPv4/UDP frame (64-byte payload) from 198.18.k.1:40000 to
 * 198.18.k.2:5201, run R times through the XDP program attached to the server veth, with the
 * context's ingress_ifindex set to that veth (bpftool runs inside the namespace so the ifindex
 * resolves). The rule set is N rules: N-1 non-matching `deny from 198.19.a.b` followed by the
 * rule that matches the packet, a *deny* of udp/5201. A denied packet never creates a
 * conntrack entry, so every one of the R runs is a new flow classified against the rules. The
 * expected verdict is XDP_DROP (1); any other verdict means the program did not decide the
 * packet by its rules (the cell is then n/a, with the verdict). The default incoming policy is
 * *allow* for this section, and a control packet to port 5202 must get XDP_PASS, so the DROP can
 * only come from the N-th rule.
 *
 * Peer: xdp-filter (xdp-tools), a hash-lookup filter with the same shape of rule set:
 * N-1 `xdp-filter ip 198.19.a.b --mode src` and `xdp-filter port 5201 --mode dst --proto udp`.
 * (See xdpfilter.ts for how xdp-filter is loaded and filled.)
 */
import { mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { XdpFilter } from './xdpfilter.js';
import { sh } from './sh.js';
import type { Pair } from './topo.js';
import { FLOW_PORT } from './rules.js';

const XDP_DROP = 1;

function csum16(b: Buffer): number {
  let s = 0;
  for (let i = 0; i + 1 < b.length; i += 2) s += b.readUInt16BE(i);
  if (b.length % 2) s += b[b.length - 1]! << 8;
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return ~s & 0xffff;
}

function ip4(a: string): Buffer {
  return Buffer.from(a.split('.').map(Number));
}

function mac(m: string): Buffer {
  return Buffer.from(m.split(':').map((x) => parseInt(x, 16)));
}

/** Ethernet + IPv4 + UDP frame with valid IP and UDP checksums. */
export function udpFrame(o: { srcMac: string; dstMac: string; src: string; dst: string; sport: number; dport: number; payload: number }): Buffer {
  const payload = Buffer.alloc(o.payload, 0x5a);
  const udp = Buffer.alloc(8);
  udp.writeUInt16BE(o.sport, 0);
  udp.writeUInt16BE(o.dport, 2);
  udp.writeUInt16BE(8 + payload.length, 4);
  const ip = Buffer.alloc(20);
  ip[0] = 0x45;
  ip.writeUInt16BE(20 + 8 + payload.length, 2);
  ip.writeUInt16BE(0x4000, 6); // DF
  ip[8] = 64;
  ip[9] = 17;
  ip4(o.src).copy(ip, 12);
  ip4(o.dst).copy(ip, 16);
  ip.writeUInt16BE(csum16(ip), 10);
  const pseudo = Buffer.concat([ip.subarray(12, 20), Buffer.from([0, 17]), Buffer.from([0, 0]), udp, payload]);
  pseudo.writeUInt16BE(8 + payload.length, 10);
  udp.writeUInt16BE(csum16(pseudo) || 0xffff, 6);
  const eth = Buffer.concat([mac(o.dstMac), mac(o.srcMac), Buffer.from([0x08, 0x00])]);
  return Buffer.concat([eth, ip, udp, payload]);
}

/** struct xdp_md for ctx_in: data=0, data_end=len, data_meta=0, ingress_ifindex, rx_queue 0. */
function xdpCtx(ifindex: number, len: number): Buffer {
  const b = Buffer.alloc(24);
  b.writeUInt32LE(0, 0);
  b.writeUInt32LE(len, 4);
  b.writeUInt32LE(0, 8);
  b.writeUInt32LE(ifindex, 12);
  return b;
}

export interface RunResult {
  ns: number;
  retval: number;
  samples: number[];
}

/** Median over `rounds` of bpftool's average ns/run for `repeat` runs. */
export function progRun(p: Pair, progId: number, repeat: number, rounds: number, dport = FLOW_PORT): RunResult {
  const dir = `/tmp/bn-testrun-${process.pid}`;
  mkdirSync(dir, { recursive: true });
  const pkt = udpFrame({ srcMac: p.cliMac, dstMac: p.srvMac, src: p.cliAddr, dst: p.srvAddr, sport: 40000, dport, payload: 64 });
  writeFileSync(`${dir}/pkt`, pkt);
  writeFileSync(`${dir}/ctx`, xdpCtx(p.srvIfindex, pkt.length));
  const samples: number[] = [];
  let retval = -1;
  try {
    for (let i = 0; i < rounds; i++) {
      const out = sh('run the XDP program (BPF_PROG_TEST_RUN)', 'ip', [
        'netns', 'exec', p.srv, 'bpftool', 'prog', 'run', 'id', String(progId),
        'data_in', `${dir}/pkt`, 'ctx_in', `${dir}/ctx`, 'repeat', String(repeat),
      ]);
      const m = /Return value:\s*(\d+),\s*duration(?: \(average\))?:\s*(\d+)\s*ns/.exec(out);
      if (!m) throw new Error(`unexpected bpftool output: ${out.trim()}`);
      retval = Number(m[1]);
      samples.push(Number(m[2]));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  // The minimum, not the median: a test run repeats one program on one packet, so its only
  // noise is additive (preemption, steal time on a shared VM) and the fastest round is the
  // program's cost. On this VM a noisy minute moved 3 of 5 rounds by up to 2x.
  return { ns: Math.min(...samples), retval, samples };
}

export const XDP_PASS = 2;

export function verdictOk(r: RunResult): string | null {
  return r.retval === XDP_DROP ? null : `verdict ${r.retval}, expected XDP_DROP (1): packet not decided by the rules in XDP`;
}

/**
 * The control: the same packet to another port must PASS (default policy allow), which shows the
 * DROP above came from the last rule and not from a default.
 */
export function controlOk(p: Pair, progId: number): string | null {
  const r = progRun(p, progId, 1, 1, FLOW_PORT + 1);
  return r.retval === XDP_PASS ? null : `control packet to port ${FLOW_PORT + 1} got verdict ${r.retval}, expected XDP_PASS (2)`;
}

/** xdp-filter on the server veth; `measure(rules)` is called after each rule count is loaded. */
export function xdpFilterSeries(p: Pair, counts: number[], measure: (rules: number, progId: number) => void): void {
  const xf = new XdpFilter(p);
  xf.addPort(FLOW_PORT, 'udp');
  for (const rules of [...counts].sort((a, b) => a - b)) {
    xf.setAddresses(rules - 1);
    measure(rules, xf.progId);
  }
}
