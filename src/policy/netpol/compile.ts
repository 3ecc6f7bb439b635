/**
 * compileNode(objects, nodeName): everything one node's pod datapath needs, as plain JSON (the
 * control plane sends it over a socket). Pure: the same objects give the same tables.
 *
 * Tables (BPF layouts in bpf/maps/pod_*.h, codecs in layouts.ts):
 * - endpoints: the pods on this node; each gets a small endpoint number `ep`, its identity and
 *   its isolation bits (ingress/egress, enforced/audit).
 * - ipcache (LPM): pod address /32|/128 -> pod identity; every distinct ipBlock prefix (cidr and
 *   except) -> a node-local CIDR identity (top bit set); host addresses -> host (1). Each entry
 *   also carries `cidrIdentity`, the identity of the most specific ipBlock prefix containing it.
 *   An address with no entry is world (2) with no CIDR identity.
 * - policy (hash): key (ep, direction, peer, proto, port kind, port) -> bits (allow/deny x
 *   enforced/audit). peer 0 = any peer; proto 0 = any protocol and port; port kinds: any port
 *   of the protocol, one exact port, or one aligned block of 256 ports (endPort ranges).
 *
 * Verdict in the datapath (and in `TableIndex.bits` + `decide` below, its TS twin): the bits of at most 12
 * lookups are OR-ed: peer in {verified/derived identity, any, CIDR identity of the address} x
 * port in {exact, block, any of proto, any protocol}. The cost does not depend on the number of
 * policies, rules or identities.
 *
 * ipBlock semantics (decided here; docs/policy.md): ipBlock matches addresses, pod addresses
 * included (the upstream e2e truth tables expect `cidr: <podIP>/32` to reach that pod). A
 * broader block is expanded over the more specific prefixes inside it: with the set S of all
 * cidr/except prefixes, an address's CIDR identity is its longest match P in S, and a block
 * (cidr, except[]) allows exactly the P in S with P inside cidr and inside no except. For TCP
 * the datapath only consults the CIDR identity of a pod address when the verified claim is the
 * identity the control plane gave that address, so a spoofed pod address without its pod's
 * claim does not match an ipBlock that covers that pod.
 *
 * Named ports: ingress rules resolve them on the local pod; egress rules resolve them on each
 * destination pod, keyed by that pod's identity. Limit: two pods with the same identity but
 * different numbers for the same port name both get both numbers (identity granularity).
 * Port ranges: [port, endPort] becomes exact ports up to the first 256-aligned boundary, whole
 * 256-port blocks, then exact ports: at most 766 entries per range, peer and endpoint.
 */
import type { ClusterObject, LabelSelector, NetworkPolicyPort, Protocol } from './model.js';
import type { Labels } from './selectors.js';
import { buildCluster, type ClusterView, type PodView } from './cluster.js';
import { matchSelector } from './selectors.js';
import { normalize, type Direction, type NormPeer, type NormPolicy } from './rules.js';
import { addrInCidr, cidrContains, cidrKey, formatCidr, hostCidr, isV4, parseAddr, parseCidr, type Cidr } from './cidr.js';
import { ID_CIDR_BASE, ID_HOST, ID_WORLD } from './identity.js';

export const PROTO = { ANY: 0, ICMP: 1, TCP: 6, UDP: 17, ICMPV6: 58, SCTP: 132 } as const;
export const protoNumber = (p: Protocol): number => PROTO[p];

export const DIR = { ingress: 0, egress: 1 } as const;
export const PORT_KIND = { ANY: 0, EXACT: 1, BLOCK: 2 } as const;
export const BLOCK_SHIFT = 8;

/** Policy entry bits. */
export const BIT = { ALLOW: 1, DENY: 2, AUDIT_ALLOW: 4, AUDIT_DENY: 8 } as const;
/** Endpoint isolation bits. */
export const ISO = { INGRESS: 1, EGRESS: 2, AUDIT_INGRESS: 4, AUDIT_EGRESS: 8, HAS_DENY: 0x10 } as const;
/** ipcache entry flags. */
export const IPC = { POD: 1, HOST: 2 } as const;

export interface EndpointEntry {
  key: string;
  namespace: string;
  name: string;
  /** Host-side interface name, when the caller's naming function was given. */
  ifname?: string;
  ips: string[];
  ep: number;
  identity: number;
  flags: number;
}

export interface IpcacheEntry {
  cidr: string;
  identity: number;
  cidrIdentity: number;
  flags: number;
}

/** [ep, dir, peer, proto, portKind, port, bits] */
export type PolicyEntry = [number, number, number, number, number, number, number];

/**
 * Which kinds of policy row each endpoint has (bpf/maps/pod_endpoints.h, `lookups`): bit
 * dir * 8 + (peer ? 4 : 0) + class, class 0 exact port, 1 port block, 2 any port of a protocol,
 * 3 any protocol. The datapath skips the lookups whose bit is clear; they could only miss.
 */
export const LOOKUP_CLASS = { EXACT: 0, BLOCK: 1, ANYPORT: 2, ANYPROTO: 3 } as const;
export const lookupBit = (dir: number, peer: number, cls: number): number => 1 << (dir * 8 + (peer ? 4 : 0) + cls);

function lookupClass(proto: number, kind: number): number {
  if (kind === PORT_KIND.EXACT) return LOOKUP_CLASS.EXACT;
  if (kind === PORT_KIND.BLOCK) return LOOKUP_CLASS.BLOCK;
  return proto === PROTO.ANY ? LOOKUP_CLASS.ANYPROTO : LOOKUP_CLASS.ANYPORT;
}

/** endpoint number -> its `lookups` mask, from the policy rows. */
export function lookupMasks(policy: readonly PolicyEntry[]): Map<number, number> {
  const m = new Map<number, number>();
  for (const [ep, dir, peer, proto, kind] of policy) m.set(ep, (m.get(ep) ?? 0) | lookupBit(dir, peer, lookupClass(proto, kind)));
  return m;
}

export interface NodeTables {
  version: 1;
  node: string;
  /** The store revision these tables were computed from (reported back by the agent). */
  revision: number;
  endpoints: EndpointEntry[];
  ipcache: IpcacheEntry[];
  policy: PolicyEntry[];
  cidrIdentities: { cidr: string; id: number }[];
  /** identity number -> canonical label set, for events and status. */
  identities: { id: number; labels: string }[];
}

export interface CompileOptions {
  revision?: number;
  /** Host-side interface name of a pod's veth (the lab's naming). */
  ifname?: (pod: { namespace: string; name: string }) => string;
  /** Addresses of the nodes (fabric and others): identity host (1) in the ipcache. */
  hostAddresses?: string[];
}

interface PeerTarget {
  /** peer keys for the policy map */
  ids: number[];
  /** pods this target reaches (for named-port resolution in egress rules; computed on demand) */
  pods: () => PodView[];
}

function sortedUnique(xs: number[]): number[] {
  return [...new Set(xs)].sort((a, b) => a - b);
}

/** Split [lo, hi] into exact ports and aligned 256-port blocks. */
export function expandRange(lo: number, hi: number): { kind: number; port: number }[] {
  const out: { kind: number; port: number }[] = [];
  const bs = 1 << BLOCK_SHIFT;
  let p = lo;
  while (p <= hi) {
    if (p % bs === 0 && p + bs - 1 <= hi) {
      out.push({ kind: PORT_KIND.BLOCK, port: p >> BLOCK_SHIFT });
      p += bs;
    } else out.push({ kind: PORT_KIND.EXACT, port: p++ });
  }
  return out;
}

const prefixMask = (len: number): bigint => (len === 0 ? 0n : ((1n << 128n) - 1n) ^ ((1n << BigInt(128 - len)) - 1n));

/**
 * The set S of all ipBlock prefixes with their CIDR identities. Lookups avoid scanning S: prefixes
 * inside a block are a contiguous run of the address-sorted list, and the longest match of an
 * address probes one hash map per distinct prefix length.
 */
class CidrSet {
  readonly list: { cidr: Cidr; id: number }[];
  readonly #byAddr: { cidr: Cidr; id: number }[];
  /** per family (0: IPv6, 1: IPv4): [prefix length, mask, network address -> id], longest first */
  readonly #byLen: [number, bigint, Map<bigint, number>][][] = [[], []];
  constructor(prefixes: Cidr[]) {
    const uniq = new Map<string, Cidr>();
    for (const c of prefixes) uniq.set(cidrKey(c), c);
    const sorted = [...uniq.values()].sort((a, b) => a.len - b.len || (a.addr < b.addr ? -1 : a.addr > b.addr ? 1 : 0));
    this.list = sorted.map((cidr, i) => ({ cidr, id: ID_CIDR_BASE + i }));
    this.#byAddr = [...this.list].sort((a, b) => (a.cidr.addr < b.cidr.addr ? -1 : a.cidr.addr > b.cidr.addr ? 1 : a.cidr.len - b.cidr.len));
    for (const v4 of [false, true]) {
      const lens = new Map<number, Map<bigint, number>>();
      for (const x of this.list) {
        if (x.cidr.v4 !== v4) continue;
        let m = lens.get(x.cidr.len);
        if (!m) lens.set(x.cidr.len, (m = new Map()));
        m.set(x.cidr.addr, x.id);
      }
      this.#byLen[v4 ? 1 : 0] = [...lens].sort((a, b) => b[0] - a[0]).map(([len, m]) => [len, prefixMask(len), m]);
    }
  }
  /** Prefixes of S inside `outer` (outer itself included when it is in S). */
  #inside(outer: Cidr): { cidr: Cidr; id: number }[] {
    const a = this.#byAddr;
    let lo = 0;
    let hi = a.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (a[mid]!.cidr.addr < outer.addr) lo = mid + 1;
      else hi = mid;
    }
    const last = outer.addr | (((1n << 128n) - 1n) ^ prefixMask(outer.len));
    const out: { cidr: Cidr; id: number }[] = [];
    for (let i = lo; i < a.length && a[i]!.cidr.addr <= last; i++) if (cidrContains(outer, a[i]!.cidr)) out.push(a[i]!);
    return out;
  }
  /** CIDR identities a block allows: prefixes inside cidr and inside no except. */
  idsFor(cidr: Cidr, except: Cidr[]): number[] {
    return this.#inside(cidr)
      .filter((x) => !except.some((e) => cidrContains(e, x.cidr)))
      .map((x) => x.id);
  }
  /** The identity of the longest prefix containing addr, or 0. */
  longest(addr: bigint): number {
    for (const [, mask, m] of this.#byLen[isV4(addr) ? 1 : 0]!) {
      const id = m.get(addr & mask);
      if (id !== undefined) return id;
    }
    return 0;
  }
}

/** Pods indexed for selector evaluation: by namespace and by label pair. */
class PodIndex {
  readonly byNs = new Map<string, PodView[]>();
  readonly nsLabels = new Map<string, Labels>();
  readonly byLabel = new Map<string, PodView[]>();
  constructor(readonly c: ClusterView) {
    for (const [n, l] of c.namespaces) this.nsLabels.set(n, l);
    for (const p of c.pods) {
      push(this.byNs, p.namespace, p);
      if (!this.nsLabels.has(p.namespace)) this.nsLabels.set(p.namespace, p.nsLabels);
      for (const [k, v] of Object.entries(p.labels)) push(this.byLabel, `${k}\0${v}`, p);
    }
  }
  select(policyNs: string, podSel: LabelSelector | undefined, nsSel: LabelSelector | undefined): PodView[] {
    const nss = new Set(nsSel ? [...this.nsLabels].filter(([, l]) => matchSelector(nsSel, l)).map(([n]) => n) : [policyNs]);
    const first = podSel && Object.entries(podSel.matchLabels ?? {})[0];
    const cand = first ? (this.byLabel.get(`${first[0]}\0${first[1]}`) ?? []).filter((p) => nss.has(p.namespace)) : [...nss].flatMap((n) => this.byNs.get(n) ?? []);
    return podSel ? cand.filter((p) => matchSelector(podSel, p.labels)) : cand;
  }
}

function push<K, V>(m: Map<K, V[]>, k: K, v: V): void {
  const l = m.get(k);
  if (l) l.push(v);
  else m.set(k, [v]);
}

function collectPrefixes(policies: NormPolicy[]): Cidr[] {
  const out: Cidr[] = [];
  for (const p of policies)
    for (const d of [p.ingress, p.egress])
      for (const r of d.rules)
        for (const peer of r.peers ?? [])
          if (peer.kind === 'ipBlock') {
            out.push(parseCidr(peer.ipBlock.cidr)!);
            for (const e of peer.ipBlock.except ?? []) out.push(parseCidr(e)!);
          }
  return out;
}

function peerTarget(c: ClusterView, idx: PodIndex, cidrs: CidrSet, policyNs: string, peer: NormPeer): PeerTarget {
  switch (peer.kind) {
    case 'entity':
      if (peer.entity === 'all') return { ids: [0], pods: () => c.pods };
      return { ids: [peer.entity === 'host' ? ID_HOST : ID_WORLD], pods: () => [] };
    case 'ipBlock': {
      const cidr = parseCidr(peer.ipBlock.cidr)!;
      const ex = (peer.ipBlock.except ?? []).map((x) => parseCidr(x)!);
      const pods = () => c.pods.filter((p) => p.addrs.some((a) => addrInCidr(a, cidr) && !ex.some((e) => addrInCidr(a, e))));
      return { ids: cidrs.idsFor(cidr, ex), pods };
    }
    case 'selector': {
      const pods = idx.select(policyNs, peer.podSelector, peer.namespaceSelector);
      return { ids: sortedUnique(pods.map((p) => p.identity)), pods: () => pods };
    }
  }
}

/** Numeric port of a named port on a pod, for the given protocol. */
function namedPort(pod: PodView, name: string, proto: Protocol): number[] {
  const out: number[] = [];
  for (const ctr of pod.pod.spec.containers) for (const cp of ctr.ports) if (cp.name === name && cp.protocol === proto) out.push(cp.containerPort);
  return out;
}

class EntryBuilder {
  readonly m = new Map<string, PolicyEntry>();
  add(ep: number, dir: number, peer: number, proto: number, kind: number, port: number, bits: number): void {
    const k = `${ep}:${dir}:${peer}:${proto}:${kind}:${port}`;
    const e = this.m.get(k);
    if (e) e[6] |= bits;
    else this.m.set(k, [ep, dir, peer, proto, kind, port, bits]);
  }
}

interface CompileCtx {
  c: ClusterView;
  idx: PodIndex;
  cidrs: CidrSet;
  /** peer targets memoised by policy namespace + peer */
  memo: Map<string, PeerTarget>;
}

function compileDirection(
  x: CompileCtx,
  out: EntryBuilder,
  pol: NormPolicy,
  dir: Direction,
  local: PodView,
  ep: number,
): void {
  const d = pol[dir];
  const dn = DIR[dir];
  for (const rule of d.rules) {
    const bits = rule.action === 'allow' ? (pol.audit ? BIT.AUDIT_ALLOW : BIT.ALLOW) : pol.audit ? BIT.AUDIT_DENY : BIT.DENY;
    const targets: PeerTarget[] =
      rule.peers === null
        ? [{ ids: [0], pods: () => x.c.pods }]
        : rule.peers.map((p) => {
            const k = `${pol.namespace}\0${JSON.stringify(p)}`;
            let t = x.memo.get(k);
            if (!t) x.memo.set(k, (t = peerTarget(x.c, x.idx, x.cidrs, pol.namespace, p)));
            return t;
          });
    if (rule.ports === null) {
      for (const t of targets) for (const id of t.ids) out.add(ep, dn, id, PROTO.ANY, PORT_KIND.ANY, 0, bits);
      continue;
    }
    for (const port of rule.ports) emitPort(out, ep, dn, dir, local, targets, port, bits);
  }
}

function emitPort(out: EntryBuilder, ep: number, dn: number, dir: Direction, local: PodView, targets: PeerTarget[], p: NetworkPolicyPort, bits: number): void {
  const protoName = p.protocol ?? 'TCP';
  const proto = protoNumber(protoName);
  if (typeof p.port === 'string') {
    const name = p.port;
    if (dir === 'ingress') {
      const nums = namedPort(local, name, protoName);
      for (const t of targets) for (const id of t.ids) for (const n of nums) out.add(ep, dn, id, proto, PORT_KIND.EXACT, n, bits);
    } else {
      // Resolved per destination pod; keyed by that pod's identity (named ports only exist on pods).
      for (const t of targets) for (const q of t.pods()) for (const n of namedPort(q, name, protoName)) out.add(ep, dn, q.identity, proto, PORT_KIND.EXACT, n, bits);
    }
    return;
  }
  const ports = p.port === undefined ? [{ kind: PORT_KIND.ANY, port: 0 }] : p.endPort !== undefined ? expandRange(p.port, p.endPort) : [{ kind: PORT_KIND.EXACT, port: p.port }];
  for (const t of targets) for (const id of t.ids) for (const x of ports) out.add(ep, dn, id, proto, x.kind, x.port, bits);
}

export function compileNode(objects: readonly ClusterObject[], nodeName: string, opts: CompileOptions = {}): NodeTables {
  const c = buildCluster(objects);
  const policies = c.policies.map(normalize);
  const cidrs = new CidrSet(collectPrefixes(policies));
  const x: CompileCtx = { c, idx: new PodIndex(c), cidrs, memo: new Map() };
  const local = c.pods.filter((p) => p.node === nodeName);
  const out = new EntryBuilder();
  const endpoints: EndpointEntry[] = [];
  local.forEach((pod, i) => {
    const ep = i + 1;
    let flags = 0;
    for (const pol of policies) {
      if (pol.namespace !== pod.namespace || !matchSelector(pol.podSelector, pod.labels)) continue;
      if (pol.ingress.isolates) flags |= pol.audit ? ISO.AUDIT_INGRESS : ISO.INGRESS;
      if (pol.egress.isolates) flags |= pol.audit ? ISO.AUDIT_EGRESS : ISO.EGRESS;
      if (!pol.audit && [...pol.ingress.rules, ...pol.egress.rules].some((r) => r.action === 'deny')) flags |= ISO.HAS_DENY;
      compileDirection(x, out, pol, 'ingress', pod, ep);
      compileDirection(x, out, pol, 'egress', pod, ep);
    }
    const e: EndpointEntry = { key: pod.key, namespace: pod.namespace, name: pod.name, ips: pod.ips, ep, identity: pod.identity, flags };
    if (opts.ifname) e.ifname = opts.ifname({ namespace: pod.namespace, name: pod.name });
    endpoints.push(e);
  });

  const ipc = new Map<string, IpcacheEntry>();
  for (const x of cidrs.list) ipc.set(cidrKey(x.cidr), { cidr: formatCidr(x.cidr), identity: ID_WORLD, cidrIdentity: x.id, flags: 0 });
  for (const ip of opts.hostAddresses ?? []) {
    const h = hostCidr(ip);
    if (h) ipc.set(cidrKey(h), { cidr: formatCidr(h), identity: ID_HOST, cidrIdentity: cidrs.longest(h.addr), flags: IPC.HOST });
  }
  for (const p of c.pods)
    for (const ip of p.ips) {
      const h = hostCidr(ip)!;
      ipc.set(cidrKey(h), { cidr: formatCidr(h), identity: p.identity, cidrIdentity: cidrs.longest(h.addr), flags: IPC.POD });
    }

  const ids = new Map<number, string>();
  for (const [canon, id] of c.identities) ids.set(id, canon);
  return {
    version: 1,
    node: nodeName,
    revision: opts.revision ?? 0,
    endpoints,
    ipcache: [...ipc.values()],
    policy: [...out.m.values()],
    cidrIdentities: cidrs.list.map((x) => ({ cidr: formatCidr(x.cidr), id: x.id })),
    identities: [...ids].sort((a, b) => a[0] - b[0]).map(([id, labels]) => ({ id, labels })),
  };
}

/* ------------------------------------------------------------------------------------------ */
/* TS twin of the datapath lookup, used by tests to check compiled tables against evaluate(). */

export class TableIndex {
  readonly policy = new Map<string, number>();
  readonly byKey = new Map<string, EndpointEntry>();
  readonly ipc: { cidr: Cidr; e: IpcacheEntry }[];
  readonly lookups: Map<number, number>;
  constructor(readonly tables: NodeTables) {
    this.lookups = lookupMasks(tables.policy);
    for (const [ep, dir, peer, proto, kind, port, bits] of tables.policy) this.policy.set(`${ep}:${dir}:${peer}:${proto}:${kind}:${port}`, bits);
    for (const e of tables.endpoints) this.byKey.set(e.key, e);
    this.ipc = tables.ipcache.map((e) => ({ cidr: parseCidr(e.cidr)!, e }));
  }
  /** Longest-prefix match, as the LPM trie does. */
  ipcache(ip: string): IpcacheEntry | undefined {
    const a = parseAddr(ip)!.addr;
    let best: { cidr: Cidr; e: IpcacheEntry } | undefined;
    for (const x of this.ipc) if (addrInCidr(a, x.cidr) && (!best || x.cidr.len > best.cidr.len)) best = x;
    return best?.e;
  }
  /** OR of the policy bits over the fixed wildcard lookups, skipping those the endpoint's
   * lookup mask rules out (the BPF lookup order, bpf/lib/pod_policy.h). */
  bits(ep: number, dir: number, sel: number, cidr: number, proto: number, port: number): number {
    let b = 0;
    const has = this.lookups.get(ep) ?? 0;
    const peers = cidr ? [sel, 0, cidr] : [sel, 0];
    for (const peer of peers) {
      const g = (cls: number, pr: number, k: number, po: number) =>
        has & lookupBit(dir, peer, cls) ? (this.policy.get(`${ep}:${dir}:${peer}:${pr}:${k}:${po}`) ?? 0) : 0;
      b |=
        g(LOOKUP_CLASS.EXACT, proto, PORT_KIND.EXACT, port) |
        g(LOOKUP_CLASS.BLOCK, proto, PORT_KIND.BLOCK, port >> BLOCK_SHIFT) |
        g(LOOKUP_CLASS.ANYPORT, proto, PORT_KIND.ANY, 0) |
        g(LOOKUP_CLASS.ANYPROTO, PROTO.ANY, PORT_KIND.ANY, 0);
    }
    return b;
  }
}

/** Decide one direction from isolation flags and OR-ed bits: {drop, audit}. */
export function decide(flags: number, dir: number, bits: number): { drop: boolean; audit: boolean } {
  const isoE = (flags & (dir === DIR.ingress ? ISO.INGRESS : ISO.EGRESS)) !== 0;
  const isoA = (flags & (dir === DIR.ingress ? ISO.AUDIT_INGRESS : ISO.AUDIT_EGRESS)) !== 0;
  const drop = (bits & BIT.DENY) !== 0 || (isoE && (bits & BIT.ALLOW) === 0);
  const dropAll = (bits & (BIT.DENY | BIT.AUDIT_DENY)) !== 0 || ((isoE || isoA) && (bits & (BIT.ALLOW | BIT.AUDIT_ALLOW)) === 0);
  return { drop, audit: !drop && dropAll };
}

/**
 * The datapath's verdict for one direction at a local endpoint, given the peer address and (TCP)
 * the verified claim identity (undefined = no valid claim = world). UDP/ICMP use the
 * address-derived identity. Mirrors bpf/lib/pod_policy.h.
 */
export function directionVerdict(
  idx: TableIndex,
  localKey: string,
  dir: Direction,
  peerIp: string,
  proto: number,
  port: number,
  claimed: number | undefined,
): { drop: boolean; audit: boolean } {
  const e = idx.byKey.get(localKey);
  if (!e) return { drop: false, audit: false };
  const ipc = idx.ipcache(peerIp);
  const addrId = ipc ? ipc.identity : ID_WORLD;
  const sel = proto === PROTO.TCP ? (claimed ?? ID_WORLD) : addrId;
  const consistent = !ipc || (ipc.flags & IPC.POD) === 0 || sel === ipc.identity;
  const cidr = ipc && consistent ? ipc.cidrIdentity : 0;
  return decide(e.flags, DIR[dir], idx.bits(e.ep, DIR[dir], sel, cidr, proto, port));
}
