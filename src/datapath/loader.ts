/**
 * Loads the host-firewall datapath (build/xdp_ingress.bpf.o, tc_ingress.bpf.o, tc_egress.bpf.o)
 * with its maps pinned by name in one pin directory, so the three objects share them and a
 * restarted agent adopts the running state (conntrack, limits, rule tables).
 *
 * Attachment is through netlink (XDP and TC clsact filters), which outlives this process; a new
 * agent attaching again replaces the programs atomically (no window without a firewall).
 * Each interface has one ingress hook (see `ingressHookFor`):
 *   - 'xdp': TC ingress `tc_ingress` first (it answers what XDP rejects), TC egress, then XDP
 *     (native, falling back to generic when the driver has no XDP support);
 *   - 'tc': TC ingress `tc_ingress_fw` (the same chain at TC, rejects answered in place), TC
 *     egress, and no XDP program.
 * Switching an interface from one hook to the other installs the new one before removing the
 * old one, so for a moment both judge a packet, and never neither.
 */
import { join } from 'node:path';
import { closeSync, rmSync } from 'node:fs';
import { BpfObject, BpfProgram, RingBuffer, splitPerCpu, type BpfMap } from '../bpf/index.js';
import { DifwError } from '../errors.js';
import type { Logger } from '../log.js';
import type { CompiledFirewall } from '../policy/ufw-compile.js';
import { TableWriter } from './tables.js';
import { FW_STATS, FW_STAT_COUNT, fwEvent, FW_EV_ALLOW, FW_EV_AUDIT, FW_EV_BLOCK, FW_EV_INVALID, FW_EV_LIMIT, FW_EV_LIMIT_BLOCK, type FwEvent } from './layouts.js';

/** tc filter handle/priority of difw's host-firewall programs (distinct from other users of clsact). */
export const TC_HANDLE = 0xd1f;
export const TC_PRIORITY = 0xd1f;

/** netfilter: BPF_PROG_TYPE_NETFILTER / BPF_NETFILTER, NFPROTO_IPV4/6, NF_INET_LOCAL_OUT. */
const NF_PROG_TYPE = 32;
const NF_ATTACH = 45;
const NF_LOCAL_OUT = 3;
const NF_PRIORITY = 1; // right after iptables' filter table (0)
const NF_LINKS: ReadonlyArray<[pf: number, pin: string]> = [
  [2, 'nf_out4'],
  [10, 'nf_out6'],
];

/** Where an interface's ingress chain runs. */
export type IngressHook = 'xdp' | 'tc';
/** The operator's choice (`DIFW_INGRESS_HOOK`): a fixed hook, or `auto` (see ingressHookFor). */
export type IngressHookSetting = IngressHook | 'auto';

export function parseIngressHookSetting(v: string | undefined): IngressHookSetting {
  if (v === undefined || v === '' || v === 'auto') return 'auto';
  if (v === 'xdp' || v === 'tc') return v;
  throw new DifwError('DIFW_E_CONFIG', `Cannot use DIFW_INGRESS_HOOK=${v}: expected auto, xdp or tc`);
}

/**
 * `auto`: XDP, except on veth. A veth's XDP receive path starts from an skb the sender already
 * built, and the kernel copies every such skb into a new page (it lacks XDP's 256 bytes of
 * headroom) before the program runs: measured here, an XDP program that only returns XDP_PASS
 * costs a veth 11% of its packet rate, a TC program 2%. On a veth the packet is already an skb,
 * so TC ingress is as early as XDP would be. NICs, bonds, VLANs and the rest get XDP.
 */
export function ingressHookFor(kind: string, setting: IngressHookSetting): IngressHook {
  if (setting !== 'auto') return setting;
  return kind === 'veth' ? 'tc' : 'xdp';
}

export interface DatapathOptions {
  pinDir: string;
  objDir?: string;
  logger: Logger;
}

/** One logged packet, as the agent's event log wants it (interface names are added there). */
export interface DatapathEvent {
  tag: string;
  inIfindex: number;
  outIfindex: number;
  src: string;
  dst: string;
  len: number;
  proto: string;
  sport?: number;
  dport?: number;
  extra?: string;
}

const TAGS: Record<number, string> = { [FW_EV_BLOCK]: 'BLOCK', [FW_EV_ALLOW]: 'ALLOW', [FW_EV_AUDIT]: 'AUDIT', [FW_EV_LIMIT_BLOCK]: 'LIMIT BLOCK', [FW_EV_INVALID]: 'AUDIT INVALID', [FW_EV_LIMIT]: 'LIMIT' };
const PROTOS: Record<number, string> = { 6: 'TCP', 17: 'UDP', 1: 'ICMP', 58: 'ICMPv6', 2: 'IGMP', 47: 'GRE', 50: 'ESP', 51: 'AH' };

export function formatAddress(b: Buffer, family: number): string {
  if (family === 4) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i).toString(16));
  // compress the longest run of zero groups, as inet_ntop does
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

export function decodeEvent(e: FwEvent): DatapathEvent {
  const hasPorts = e.proto === 6 || e.proto === 17;
  const extra = [e.rule ? `RULE=${e.rule}` : '', e.proto === 6 && e.tcp_flags ? `FLAGS=0x${e.tcp_flags.toString(16)}` : ''].filter(Boolean).join(' ');
  return {
    tag: TAGS[e.tag] ?? `EVENT${e.tag}`,
    inIfindex: e.in_ifindex,
    outIfindex: e.out_ifindex,
    src: formatAddress(e.src, e.family),
    dst: formatAddress(e.dst, e.family),
    len: e.pkt_len,
    proto: PROTOS[e.proto] ?? String(e.proto),
    ...(hasPorts ? { sport: e.sport, dport: e.dport } : {}),
    ...(extra ? { extra } : {}),
  };
}

export class Datapath {
  readonly xdp: BpfObject;
  readonly tcIngress: BpfObject;
  readonly tcEgress: BpfObject;
  /** LOCAL_OUT netfilter program (kernel 6.4+); undefined when it could not be loaded. */
  readonly nfOutput: BpfObject | undefined;
  readonly tables: TableWriter;
  readonly #log: Logger;
  readonly #pinDir: string;
  #hostAttached = false;
  #closed = false;

  private constructor(xdp: BpfObject, tcIn: BpfObject, tcOut: BpfObject, nf: BpfObject | undefined, pinDir: string, log: Logger) {
    this.xdp = xdp;
    this.tcIngress = tcIn;
    this.tcEgress = tcOut;
    this.nfOutput = nf;
    this.#pinDir = pinDir;
    this.#log = log;
    this.tables = new TableWriter({ config: xdp.map('fw_config'), tuples: xdp.map('fw_tuples'), keys: xdp.map('fw_keys'), actions: xdp.map('fw_actions') }, log);
  }

  static async load(opts: DatapathOptions): Promise<Datapath> {
    const objDir = opts.objDir ?? 'build';
    const open = (name: string) => {
      const o = BpfObject.open(join(objDir, `${name}.bpf.o`), { pinRoot: opts.pinDir, logger: opts.logger });
      try {
        o.load();
      } catch (e) {
        o.close();
        throw e;
      }
      return o;
    };
    // XDP first: it declares every shared map, the others adopt the pins.
    const xdp = open('xdp_ingress');
    let tcIn: BpfObject | undefined;
    try {
      tcIn = open('tc_ingress');
      const tcOut = open('tc_egress');
      let nf: BpfObject | undefined;
      try {
        nf = BpfObject.open(join(objDir, 'nf_output.bpf.o'), { pinRoot: opts.pinDir, logger: opts.logger });
        try {
          nf.setProgramType('nf_output', NF_PROG_TYPE, NF_ATTACH);
          nf.load();
        } catch (e) {
          nf.close();
          throw e;
        }
      } catch (e) {
        nf = undefined;
        opts.logger.warn({ err: (e as Error).message }, 'netfilter output program unavailable: outgoing drops are enforced at TC egress only (senders see no EPERM)');
      }
      opts.logger.info({ pinDir: opts.pinDir, netfilter: nf !== undefined }, 'host firewall datapath loaded');
      return new Datapath(xdp, tcIn, tcOut, nf, opts.pinDir, opts.logger);
    } catch (e) {
      tcIn?.close();
      xdp.close();
      throw e;
    }
  }

  /** A shared map by name (fw_config, fw_ct, fw_stats, ...). */
  map(name: string): BpfMap {
    return this.xdp.map(name);
  }

  /** `tc_ingress` answers XDP's rejects; `tc_ingress_fw` is the whole ingress chain at TC. */
  program(which: 'xdp' | 'tc_ingress' | 'tc_ingress_fw' | 'tc_egress'): BpfProgram {
    if (which === 'xdp') return this.xdp.program('xdp_ingress');
    if (which === 'tc_ingress' || which === 'tc_ingress_fw') return this.tcIngress.program(which);
    return this.tcEgress.program('tc_egress');
  }

  /**
   * Hook the LOCAL_OUT program into this network namespace (IPv4 and IPv6), pinned in the pin
   * dir so it outlives the agent like the XDP/TC attachments. A new agent creates its links
   * before it unpins the old ones: both run for a moment, never neither.
   */
  attachHost(): void {
    if (this.#hostAttached || !this.nfOutput) return;
    const prog = this.nfOutput.program('nf_output');
    for (const [pf, name] of NF_LINKS) {
      const fd = prog.attachNetfilter(pf, NF_LOCAL_OUT, NF_PRIORITY);
      try {
        const path = join(this.#pinDir, name);
        rmSync(path, { force: true });
        BpfProgram.pinLinkFd(fd, path);
      } finally {
        closeSync(fd);
      }
    }
    this.#hostAttached = true;
  }

  /** Remove the LOCAL_OUT hooks (unpinning destroys the links). */
  detachHost(): void {
    for (const [, name] of NF_LINKS) rmSync(join(this.#pinDir, name), { force: true });
    this.#hostAttached = false;
  }

  /**
   * Attach (or atomically replace) the programs on one interface, with its ingress chain at
   * `hook` (default 'xdp'). XDP mode: native when the driver supports it, else generic;
   * `xdpMode` forces one (tests).
   */
  attach(ifindex: number, opts: { hook?: IngressHook; xdpMode?: 'native' | 'generic' } = {}): void {
    try {
      this.attachHost();
    } catch (e) {
      this.#log.warn({ err: (e as Error).message }, 'cannot hook netfilter LOCAL_OUT: outgoing drops are enforced at TC egress only');
    }
    const tc = { handle: TC_HANDLE, priority: TC_PRIORITY };
    if (opts.hook === 'tc') {
      // The TC chain replaces tc_ingress in one filter swap, then any XDP program goes.
      this.program('tc_ingress_fw').attachTc(ifindex, 'ingress', tc);
      this.program('tc_egress').attachTc(ifindex, 'egress', tc);
      BpfProgram.detachXdpFrom(ifindex);
      return;
    }
    // XDP first when switching from the TC chain: then tc_ingress replaces tc_ingress_fw.
    this.#attachXdp(ifindex, opts.xdpMode);
    this.program('tc_ingress').attachTc(ifindex, 'ingress', tc);
    this.program('tc_egress').attachTc(ifindex, 'egress', tc);
  }

  #attachXdp(ifindex: number, mode: 'native' | 'generic' | undefined): void {
    const xdp = this.program('xdp');
    if (mode === 'generic') {
      xdp.attachXdp(ifindex, { mode: 'generic' });
      return;
    }
    try {
      xdp.attachXdp(ifindex, { mode: 'native' });
    } catch (e) {
      this.#log.info({ ifindex, err: (e as Error).message }, 'native XDP unavailable, using generic XDP');
      try {
        xdp.attachXdp(ifindex, { mode: 'generic' });
      } catch (e2) {
        throw new DifwError('DIFW_E_BPF_ATTACH', `Cannot attach the XDP firewall to ifindex ${ifindex}: ${(e2 as Error).message}`, { cause: e2 });
      }
    }
  }

  /** Remove the programs from one interface (XDP first, so nothing is left half-enforced). */
  detach(ifindex: number): void {
    BpfProgram.detachXdpFrom(ifindex);
    const tc = { handle: TC_HANDLE, priority: TC_PRIORITY };
    BpfProgram.detachTcFrom(ifindex, 'egress', tc);
    BpfProgram.detachTcFrom(ifindex, 'ingress', tc);
  }

  /** Install a compiled rule set atomically; returns the generation now active. */
  apply(compiled: CompiledFirewall): number {
    return this.tables.apply(compiled);
  }

  /** Counters summed over CPUs. */
  stats(): Record<string, bigint> {
    const m = this.map('fw_stats');
    const out: Record<string, bigint> = {};
    const key = Buffer.alloc(4);
    for (let i = 0; i < FW_STAT_COUNT && i < FW_STATS.length; i++) {
      key.writeUInt32LE(i);
      const blob = m.lookup(key);
      let sum = 0n;
      if (blob) for (const v of splitPerCpu(blob, 8)) sum += v.readBigUInt64LE(0);
      out[FW_STATS[i]!] = sum;
    }
    return out;
  }

  /** Deliver logged packets in batches; returns a function that stops delivery. */
  onEvents(cb: (evs: DatapathEvent[]) => void): () => void {
    let pending: DatapathEvent[] = [];
    let scheduled = false;
    const flush = () => {
      scheduled = false;
      const evs = pending;
      pending = [];
      if (evs.length) cb(evs);
    };
    const rb = new RingBuffer(
      this.map('fw_events'),
      (rec) => {
        if (rec.length < fwEvent.size) return;
        pending.push(decodeEvent(fwEvent.decode(rec)));
        if (!scheduled) {
          scheduled = true;
          setImmediate(flush);
        }
      },
      { logger: this.#log },
    );
    rb.start();
    return () => {
      rb.stop();
      flush();
    };
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.nfOutput?.close();
    this.tcEgress.close();
    this.tcIngress.close();
    this.xdp.close();
  }
}
