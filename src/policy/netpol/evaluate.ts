/**
 * Reference evaluator: the policy semantics written directly from the specification, one
 * connection at a time, with no identities, no tables and no wildcards. It is the oracle the
 * compiler is checked against (test/unit/netpol-*.test.ts) and is far too slow for a datapath.
 *
 * A connection src -> dst (proto, port = destination port) is allowed iff the source's egress
 * allows it (when the source is a pod) and the destination's ingress allows it (when the
 * destination is a pod). Per direction, with E = enforced policies and A = audit-mode policies:
 *   drop(E)   = some deny rule of E matches, or E isolates the pod and no allow rule of E matches;
 *   drop(E+A) = the same over all policies.
 * The verdict is drop(E); `audit` is set when drop(E) is false but drop(E+A) is true.
 */
import type { ClusterObject, NetworkPolicyPort, Protocol } from './model.js';
import { buildCluster, type ClusterView, type PodView } from './cluster.js';
import { matchSelector } from './selectors.js';
import { normalize, type Direction, type NormPeer, type NormPolicy } from './rules.js';
import { addrInCidr, parseAddr, parseCidr } from './cidr.js';

/** A pod (by "ns/name") or an address outside the pods (`host: true` for the node itself). */
export type Endpoint = { pod: string } | { ip: string; host?: boolean };

export interface Verdict {
  allowed: boolean;
  audit: boolean;
}

interface Ep {
  pod?: PodView;
  addrs: bigint[];
  host: boolean;
}

function resolve(c: ClusterView, e: Endpoint): Ep {
  if ('pod' in e) {
    const pod = c.podsByKey.get(e.pod);
    if (!pod) throw new Error(`unknown pod ${e.pod}`);
    return { pod, addrs: pod.addrs, host: false };
  }
  const a = parseAddr(e.ip);
  if (!a) throw new Error(`bad address ${e.ip}`);
  return { addrs: [a.addr], host: e.host ?? false };
}

function peerMatches(peer: NormPeer, policyNs: string, ep: Ep): boolean {
  switch (peer.kind) {
    case 'entity':
      return peer.entity === 'all' || (peer.entity === 'host' ? ep.host : !ep.pod && !ep.host);
    case 'ipBlock': {
      const c = parseCidr(peer.ipBlock.cidr)!;
      const ex = (peer.ipBlock.except ?? []).map((x) => parseCidr(x)!);
      return ep.addrs.some((a) => addrInCidr(a, c) && !ex.some((x) => addrInCidr(a, x)));
    }
    case 'selector': {
      if (!ep.pod) return false;
      const nsOk = peer.namespaceSelector ? matchSelector(peer.namespaceSelector, ep.pod.nsLabels) : ep.pod.namespace === policyNs;
      const podOk = peer.podSelector ? matchSelector(peer.podSelector, ep.pod.labels) : true;
      return nsOk && podOk;
    }
  }
}

/** Does a port entry match traffic to `dst` on proto/port? Named ports resolve on the destination pod. */
export function portMatches(p: NetworkPolicyPort, proto: Protocol, port: number, dst: PodView | undefined): boolean {
  if ((p.protocol ?? 'TCP') !== proto) return false;
  if (p.port === undefined) return true;
  if (typeof p.port === 'number') return p.endPort !== undefined ? port >= p.port && port <= p.endPort : port === p.port;
  if (!dst) return false;
  return dst.pod.spec.containers.some((c) => c.ports.some((cp) => cp.name === p.port && cp.protocol === proto && cp.containerPort === port));
}

interface DirResult {
  isoE: boolean;
  isoA: boolean;
  allowE: boolean;
  allowA: boolean;
  denyE: boolean;
  denyA: boolean;
}

function direction(policies: NormPolicy[], dir: Direction, local: PodView, peer: Ep, proto: Protocol, port: number, dst: PodView | undefined): DirResult {
  const r: DirResult = { isoE: false, isoA: false, allowE: false, allowA: false, denyE: false, denyA: false };
  for (const p of policies) {
    if (p.namespace !== local.namespace || !matchSelector(p.podSelector, local.labels)) continue;
    const d = p[dir];
    if (d.isolates) p.audit ? (r.isoA = true) : (r.isoE = true);
    for (const rule of d.rules) {
      const peerOk = rule.peers === null || rule.peers.some((x) => peerMatches(x, p.namespace, peer));
      const portOk = rule.ports === null || rule.ports.some((x) => portMatches(x, proto, port, dst));
      if (!peerOk || !portOk) continue;
      if (rule.action === 'allow') p.audit ? (r.allowA = true) : (r.allowE = true);
      else p.audit ? (r.denyA = true) : (r.denyE = true);
    }
  }
  return r;
}

const dropE = (r: DirResult) => r.denyE || (r.isoE && !r.allowE);
const dropAll = (r: DirResult) => r.denyE || r.denyA || ((r.isoE || r.isoA) && !(r.allowE || r.allowA));

/** Evaluate with a prebuilt cluster view (for many queries over the same objects). */
export function evaluateIn(c: ClusterView, src: Endpoint, dst: Endpoint, proto: Protocol, port: number): Verdict {
  const s = resolve(c, src);
  const d = resolve(c, dst);
  const policies = c.policies.map(normalize);
  const res: DirResult[] = [];
  if (s.pod) res.push(direction(policies, 'egress', s.pod, d, proto, port, d.pod));
  if (d.pod) res.push(direction(policies, 'ingress', d.pod, s, proto, port, d.pod));
  const allowed = !res.some(dropE);
  return { allowed, audit: allowed && res.some(dropAll) };
}

export function evaluate(objects: readonly ClusterObject[], src: Endpoint, dst: Endpoint, proto: Protocol, port: number): Verdict {
  return evaluateIn(buildCluster(objects), src, dst, proto, port);
}
