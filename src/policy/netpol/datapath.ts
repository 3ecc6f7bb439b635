/**
 * PodDatapath: loads bpf/tc_pod.bpf.c, attaches it to pod veths (host side) and swaps in the
 * NodeTables that compileNode produced.
 *
 * Atomic swap: every endpoint, ipcache and policy entry carries a generation bit. apply() writes
 * the complete new tables under the idle generation, then flips pod_config.gen (and bumps the
 * revision) in one array update, then deletes the old generation. A packet reads the generation
 * once, so it sees either the old tables or the new ones, never a mix. Capacity: both
 * generations coexist during a swap, so each may use at most half of a map.
 *
 * Revision: pod_config.revision changes on every apply (it is this node's counter, not the store
 * revision); conntrack entries judged under an older revision are re-evaluated on their next
 * packet (bpf/tc_pod.bpf.c), which is how revoked connections stop.
 *
 * Maps are pinned by name under `pinDir` (shared with the claim datapath's maps there), so a
 * restarted agent finds its conntrack and tables; the first apply after a restart scans the maps
 * for stale entries instead of relying on what this process wrote.
 *
 * Attachment: TCX links (kernel 6.6+), pinned under `pinDir/tcx/`, so they outlive the agent and
 * a restarted agent swaps its programs into them atomically. TCX calls the program straight
 * from the device's hook; clsact goes through the qdisc's classifier layer first, which costs
 * about 50 ns per packet, 8 packets per short connection. On a kernel without TCX the programs
 * go on the clsact qdisc instead.
 */
import { join } from 'node:path';
import koffi from 'koffi';
import { BpfObject, BpfProgram, RingBuffer, type BpfMap } from '../../bpf/index.js';
import { DifwError } from '../../errors.js';
import { logger as mkLogger, type Logger } from '../../log.js';
import { lookupMasks, type NodeTables, type EndpointEntry } from './compile.js';
import { parseCidr, addrBytes } from './cidr.js';
import { podConfig, podEpKey, podEpVal, podIpcKey, podIpcVal, podPolicyKey, podPolicyVal, podEvent, podEvBudget, policyFlags, EV, EVF, REASON } from './layouts.js';

export interface PodDatapathOptions {
  pinDir: string;
  objDir?: string;
  /**
   * Conntrack capacity of this node (pod_ct entries; default POD_CT_ENTRIES, or
   * $DIFW_POD_CT_ENTRIES). Fixed once the map is pinned: a restart must keep it.
   */
  ctEntries?: number;
  logger?: Logger;
  /**
   * Receives every drop / audit event (decoded). Default: each event is logged at info level
   * (`pod policy event`), at most EVENT_LOG_PER_S per second; the rest are counted and the count
   * is logged with the next logged event.
   */
  onEvent?: (e: PodEvent) => void;
}

const EVENT_LOG_PER_S = 50;

/**
 * Default conntrack capacity of a node: 65,536 flows, about 8 MiB of kernel memory (elements of
 * ~120 bytes plus a 16-byte bucket each); 262,144 would take ~35 MiB per lab node, and a lab
 * puts several nodes on one machine. Entries of reset flows are freed at once
 * (bpf/tc_pod.bpf.c), so the table holds live and recently closed flows. The benchmark measures
 * both sizes (bench/README.md); set DIFW_POD_CT_ENTRIES for more.
 */
export const POD_CT_ENTRIES = 65536;

function ctEntries(opt: number | undefined): number {
  const raw = opt ?? (process.env.DIFW_POD_CT_ENTRIES ? Number(process.env.DIFW_POD_CT_ENTRIES) : POD_CT_ENTRIES);
  if (!Number.isInteger(raw) || raw < 1024 || raw > 1 << 24)
    throw new DifwError('DIFW_E_CONFIG', `Cannot size pod conntrack at ${String(opt ?? process.env.DIFW_POD_CT_ENTRIES)} entries: give an integer from 1024 to 16777216`);
  return raw;
}

function eventLogger(log: Logger): (e: PodEvent) => void {
  let windowStart = 0;
  let inWindow = 0;
  let suppressed = 0;
  return (e) => {
    const now = Date.now();
    if (now - windowStart >= 1000) {
      windowStart = now;
      inWindow = 0;
    }
    if (++inWindow > EVENT_LOG_PER_S) {
      suppressed++;
      return;
    }
    log.info({ event: { ...e, tsNs: e.tsNs.toString() }, ...(suppressed ? { suppressed } : {}) }, 'pod policy event');
    suppressed = 0;
  };
}

export interface PodEvent {
  tsNs: bigint;
  ifindex: number;
  /** "ns/name" of the local pod, when known from the current tables. */
  pod?: string;
  localIdentity: number;
  peerIdentity: number;
  revision: number;
  direction: 'ingress' | 'egress';
  verdict: 'drop' | 'audit';
  reason: string;
  proto: number;
  local: string;
  remote: string;
  localPort: number;
  remotePort: number;
  addressDerived: boolean;
  verified: boolean;
  claim: number;
}

let ifNameToIndex: ((name: string) => number) | undefined;
/** if_nametoindex(3) in the calling process's network namespace (0 when absent). */
export function ifindexOf(name: string): number {
  if (!ifNameToIndex) {
    const libc = koffi.load('libc.so.6');
    ifNameToIndex = libc.func('unsigned int if_nametoindex(const char *ifname)') as (n: string) => number;
  }
  return ifNameToIndex(name);
}

function fmtAddr(b: Buffer): string {
  if (b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff) return `${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  const g: string[] = [];
  for (let i = 0; i < 16; i += 2) g.push(b.readUInt16BE(i).toString(16));
  return g.join(':');
}

interface Written {
  ep: Buffer[];
  ipc: Buffer[];
  pol: Buffer[];
}

export class PodDatapath {
  readonly #obj: BpfObject;
  readonly #log: Logger;
  readonly #from: BpfProgram;
  readonly #to: BpfProgram;
  readonly #cfg: BpfMap;
  readonly #ep: BpfMap;
  readonly #ipc: BpfMap;
  readonly #pol: BpfMap;
  readonly #ct: BpfMap;
  readonly #budget: BpfMap;
  readonly #ring: RingBuffer;
  #attached = new Set<number>();
  /** What this process wrote per generation; undefined = unknown (scan the map). */
  #written: [Written | undefined, Written | undefined] = [undefined, undefined];
  #tables: NodeTables | undefined;
  /** Revision this instance last wrote; another writer since then makes #written unreliable. */
  #lastRevision = -1;
  #byIfindex = new Map<number, EndpointEntry>();
  /** endpoint -> pod_ep_val.lookups of the live tables */
  #lookups = new Map<number, number>();
  #bound = new Map<string, number>(); // pod key -> ifindex given to attachPod
  readonly #pinDir: string;
  /** false once the kernel refused a TCX link: clsact from then on */
  #tcx = true;

  private constructor(obj: BpfObject, log: Logger, onEvent: (e: PodEvent) => void, pinDir: string) {
    this.#obj = obj;
    this.#pinDir = pinDir;
    this.#log = log;
    this.#from = obj.program('pod_from');
    this.#to = obj.program('pod_to');
    this.#cfg = obj.map('pod_config');
    this.#ep = obj.map('pod_endpoints');
    this.#ipc = obj.map('pod_ipcache');
    this.#pol = obj.map('pod_policy');
    this.#ct = obj.map('pod_ct');
    this.#budget = obj.map('pod_ev_budget');
    this.#ring = new RingBuffer(obj.map('pod_events'), (rec) => onEvent(this.#decode(rec)), { logger: log });
    this.#ring.start();
  }

  static async load(opts: PodDatapathOptions): Promise<PodDatapath> {
    const log = opts.logger ?? mkLogger('pod-datapath');
    const entries = ctEntries(opts.ctEntries);
    const obj = BpfObject.open(join(opts.objDir ?? 'build', 'tc_pod.bpf.o'), { pinRoot: opts.pinDir, logger: log });
    try {
      obj.setMaxEntries('pod_ct', entries);
      obj.load();
      return new PodDatapath(obj, log, opts.onEvent ?? eventLogger(log), opts.pinDir);
    } catch (e) {
      obj.close();
      throw e;
    }
  }

  /** The BPF object (tests run its programs with testRun). */
  get object(): BpfObject {
    return this.#obj;
  }

  get revision(): number {
    return this.#config().revision;
  }

  /** Events the programs did not emit (per-CPU rate limit reached, or the ring buffer full). */
  eventsLost(): number {
    const per = this.#budget.lookupPerCpu(Buffer.alloc(4)) ?? [];
    return per.reduce((sum, v) => sum + Number(podEvBudget.decode(v).lost), 0);
  }

  #config() {
    const v = this.#cfg.lookup(Buffer.alloc(4));
    return v ? podConfig.decode(v) : { gen: 0, revision: 0, flags: 0, _pad: 0 };
  }

  /**
   * Attach the policy programs to a pod veth's host side (TC ingress: from the pod, TC egress:
   * to the pod). `podKey` ("ns/name") binds the interface to a pod when the tables carry no
   * interface names.
   */
  attachPod(ifindex: number, podKey?: string): void {
    this.#attachHooks(ifindex);
    this.#attached.add(ifindex);
    if (podKey) this.#bound.set(podKey, ifindex);
    // An interface created after the last apply: give it its endpoint entry now.
    if (this.#tables && !this.#byIfindex.has(ifindex)) {
      const cfg = this.#config();
      const e = this.#tables.endpoints.find((x) => this.#resolveIfindex(x) === ifindex);
      if (e) {
        const k = podEpKey.encode({ ifindex, gen: cfg.gen & 1 });
        this.#ep.update(k, podEpVal.encode({ ep: e.ep, identity: e.identity, flags: e.flags, lookups: this.#lookups.get(e.ep) ?? 0 }));
        this.#written[cfg.gen & 1]?.ep.push(k);
        this.#byIfindex.set(ifindex, e);
      }
    }
  }

  detachPod(ifindex: number): void {
    BpfProgram.detachTcxAt(this.#tcxPin(ifindex, 'ingress'));
    BpfProgram.detachTcxAt(this.#tcxPin(ifindex, 'egress'));
    BpfProgram.detachTcFrom(ifindex, 'ingress');
    BpfProgram.detachTcFrom(ifindex, 'egress');
    this.#attached.delete(ifindex);
    for (const gen of [0, 1]) this.#ep.delete(podEpKey.encode({ ifindex, gen }));
    this.#byIfindex.delete(ifindex);
    for (const [k, v] of this.#bound) if (v === ifindex) this.#bound.delete(k);
  }

  #tcxPin(ifindex: number, dir: 'ingress' | 'egress'): string {
    return join(this.#pinDir, 'tcx', `pod_${ifindex}_${dir}`);
  }

  /** pod_from on the host side's ingress (from the pod), pod_to on its egress (to the pod). */
  #attachHooks(ifindex: number): void {
    if (this.#tcx) {
      try {
        this.#from.attachTcx(ifindex, 'ingress', this.#tcxPin(ifindex, 'ingress'));
        this.#to.attachTcx(ifindex, 'egress', this.#tcxPin(ifindex, 'egress'));
        // an older agent's clsact filters: TCX already runs first and decides, so drop them
        BpfProgram.detachTcFrom(ifindex, 'ingress');
        BpfProgram.detachTcFrom(ifindex, 'egress');
        return;
      } catch (e) {
        this.#tcx = false;
        this.#log.warn({ err: (e as Error).message }, 'no TCX links on this kernel: pod programs go on clsact');
        BpfProgram.detachTcxAt(this.#tcxPin(ifindex, 'ingress'));
      }
    }
    this.#from.attachTc(ifindex, 'ingress');
    this.#to.attachTc(ifindex, 'egress');
  }

  /** Program ids enforcing on a pod interface (TCX or clsact), 0 where none. */
  attachedIds(ifindex: number): { ingress: number; egress: number } {
    const id = (dir: 'ingress' | 'egress') => BpfProgram.tcxAttachedId(this.#tcxPin(ifindex, dir)) || BpfProgram.tcAttachedId(ifindex, dir);
    return { ingress: id('ingress'), egress: id('egress') };
  }

  #resolveIfindex(e: EndpointEntry): number {
    const b = this.#bound.get(e.key);
    if (b) return b;
    return e.ifname ? ifindexOf(e.ifname) : 0;
  }

  /** Swap in new tables atomically (see the module comment). Returns the time it took, in ms. */
  apply(tables: NodeTables): number {
    const t0 = process.hrtime.bigint();
    const cfg = this.#config();
    if (cfg.revision !== this.#lastRevision) this.#written = [undefined, undefined]; // not (only) ours: scan
    const live = cfg.gen & 1;
    const next = live ^ 1;
    const half = (m: BpfMap) => Math.floor(m.maxEntries / 2);
    if (tables.policy.length > half(this.#pol)) throw new DifwError('DIFW_E_CAPACITY', `Cannot apply ${tables.policy.length} policy entries: the pod policy map holds ${half(this.#pol)} per generation`);
    if (tables.ipcache.length > half(this.#ipc)) throw new DifwError('DIFW_E_CAPACITY', `Cannot apply ${tables.ipcache.length} ipcache entries: the map holds ${half(this.#ipc)} per generation`);

    this.#clearGen(next);
    const written: Written = { ep: [], ipc: [], pol: [] };
    const byIfindex = new Map<number, EndpointEntry>();
    const epv: Buffer[] = [];
    const lookups = lookupMasks(tables.policy);
    for (const e of tables.endpoints) {
      const ifindex = this.#resolveIfindex(e);
      if (!ifindex) {
        this.#log.debug({ pod: e.key, ifname: e.ifname }, 'pod interface not present yet');
        continue;
      }
      byIfindex.set(ifindex, e);
      written.ep.push(podEpKey.encode({ ifindex, gen: next }));
      epv.push(podEpVal.encode({ ep: e.ep, identity: e.identity, flags: e.flags, lookups: lookups.get(e.ep) ?? 0 }));
    }
    if (epv.length > 0) this.#ep.updateBatch(written.ep, epv);

    const ipv: Buffer[] = [];
    for (const e of tables.ipcache) {
      const c = parseCidr(e.cidr);
      if (!c) throw new DifwError('DIFW_E_POLICY', `Cannot install ipcache prefix ${e.cidr}`);
      written.ipc.push(podIpcKey.encode({ prefixlen: 16 + c.len, gen: next, family: c.v4 ? 4 : 6, addr: addrBytes(c.addr), _pad: Buffer.alloc(2) }));
      ipv.push(podIpcVal.encode({ id: e.identity, cidr_id: e.cidrIdentity, flags: e.flags }));
    }
    if (ipv.length > 0) this.#ipc.updateBatch(written.ipc, ipv);

    const pk = Buffer.alloc(tables.policy.length * podPolicyKey.size);
    const pv = Buffer.alloc(tables.policy.length * podPolicyVal.size);
    tables.policy.forEach(([ep, dir, peer, proto, kind, port, bits], i) => {
      podPolicyKey.write(pk, i * podPolicyKey.size, { ep, peer, port, proto, flags: policyFlags(dir, kind, next) });
      podPolicyVal.write(pv, i * podPolicyVal.size, { bits });
      written.pol.push(pk.subarray(i * podPolicyKey.size, (i + 1) * podPolicyKey.size));
    });
    if (tables.policy.length > 0) this.#pol.updateBatchRaw(pk, pv, tables.policy.length);

    let revision = (cfg.revision + 1) >>> 0;
    if (revision === 0) revision = 1;
    this.#cfg.update(Buffer.alloc(4), podConfig.encode({ gen: next, revision, flags: 0, _pad: 0 }));
    this.#written[next] = written;
    this.#lastRevision = revision;
    this.#clearGen(live);
    this.#tables = tables;
    this.#lookups = lookups;
    this.#byIfindex = byIfindex;
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    this.#log.info({ revision, storeRevision: tables.revision, endpoints: written.ep.length, ipcache: written.ipc.length, policy: written.pol.length, ms }, 'pod tables applied');
    return ms;
  }

  /** Remove every entry of one generation. */
  #clearGen(gen: number): void {
    const w = this.#written[gen];
    if (w) {
      this.#ep.deleteBatch(w.ep);
      this.#ipc.deleteBatch(w.ipc);
      this.#pol.deleteBatch(w.pol);
    } else {
      this.#ep.deleteBatch([...this.#ep.keys()].filter((k) => k.readUInt32LE(4) === gen));
      this.#ipc.deleteBatch([...this.#ipc.keys()].filter((k) => k[4] === gen));
      this.#pol.deleteBatch([...this.#pol.keys()].filter((k) => k[11]! >> 7 === gen));
    }
    this.#written[gen] = { ep: [], ipc: [], pol: [] };
  }

  /** Number of conntrack entries (walks the map: for tests and status). */
  conntrackCount(): number {
    let n = 0;
    for (const _ of this.#ct.keys()) n++;
    return n;
  }

  #decode(rec: Buffer): PodEvent {
    const e = podEvent.decode(rec);
    const ep = this.#byIfindex.get(e.ifindex);
    const ev: PodEvent = {
      tsNs: e.ts_ns,
      ifindex: e.ifindex,
      localIdentity: e.local_id,
      peerIdentity: e.peer_id,
      revision: e.revision,
      direction: e.dir === 0 ? 'ingress' : 'egress',
      verdict: e.verdict === EV.AUDIT ? 'audit' : 'drop',
      reason: REASON[e.reason] ?? `reason-${e.reason}`,
      proto: e.proto,
      local: fmtAddr(e.local),
      remote: fmtAddr(e.remote),
      localPort: e.lport,
      remotePort: e.rport,
      addressDerived: (e.flags & EVF.ADDR) !== 0,
      verified: (e.flags & EVF.VERIFIED) !== 0,
      claim: e.claim,
    };
    if (ep) ev.pod = ep.key;
    return ev;
  }

  /**
   * Release the object (pinned maps stay). By default also detaches the programs from every pod
   * this instance attached; `{ detach: false }` leaves them enforcing (TC attachments outlive the
   * process), e.g. for an agent restart.
   */
  close(opts: { detach?: boolean } = {}): void {
    this.#ring.stop();
    for (const i of opts.detach === false ? [] : [...this.#attached]) {
      try {
        this.detachPod(i);
      } catch (e) {
        this.#log.warn({ err: e, ifindex: i }, 'cannot detach pod programs');
      }
    }
    this.#obj.close();
  }
}
