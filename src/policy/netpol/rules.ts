/**
 * NetworkPolicy and DifwPolicy normalised to one rule form, with upstream defaulting applied.
 *
 * policyTypes (upstream SetDefaults_NetworkPolicy): when `policyTypes` is absent or empty, it is
 * ["Ingress"], plus "Egress" when the policy has at least one egress rule (`egress: []` does not
 * count). A NetworkPolicy isolates its selected pods in each direction it lists, whatever its
 * rules are; rules only ever allow.
 *
 * DifwPolicy: a direction is isolated by the policy iff the policy has at least one `allow` rule
 * in that direction; `deny` rules never isolate (a deny-only policy removes traffic and keeps
 * everything else as it was). Deny wins over any allow, from any policy.
 *
 * Rule peers: `from`/`to` absent or empty = every source/destination (any identity, any address,
 * host and world included). Ports absent or empty = every port of every protocol.
 */
import type { DifwPolicy, Entity, IPBlock, LabelSelector, NetworkPolicy, NetworkPolicyPort, PolicyObject } from './model.js';

export type Direction = 'ingress' | 'egress';

export type NormPeer =
  | { kind: 'selector'; podSelector?: LabelSelector; namespaceSelector?: LabelSelector }
  | { kind: 'ipBlock'; ipBlock: IPBlock }
  | { kind: 'entity'; entity: Entity };

export interface NormRule {
  action: 'allow' | 'deny';
  /** null = all peers */
  peers: NormPeer[] | null;
  /** null = all ports, all protocols */
  ports: NetworkPolicyPort[] | null;
}

export interface NormDirection {
  isolates: boolean;
  rules: NormRule[];
}

export interface NormPolicy {
  kind: 'NetworkPolicy' | 'DifwPolicy';
  namespace: string;
  name: string;
  podSelector: LabelSelector;
  audit: boolean;
  ingress: NormDirection;
  egress: NormDirection;
}

export function effectivePolicyTypes(np: NetworkPolicy): Set<'Ingress' | 'Egress'> {
  const t = np.spec.policyTypes;
  if (t && t.length > 0) return new Set(t);
  const out = new Set<'Ingress' | 'Egress'>(['Ingress']);
  if ((np.spec.egress?.length ?? 0) > 0) out.add('Egress');
  return out;
}

function peerOf(p: { podSelector?: LabelSelector; namespaceSelector?: LabelSelector; ipBlock?: IPBlock; entity?: Entity }): NormPeer {
  if (p.entity !== undefined) return { kind: 'entity', entity: p.entity };
  if (p.ipBlock !== undefined) return { kind: 'ipBlock', ipBlock: p.ipBlock };
  const s: NormPeer = { kind: 'selector' };
  if (p.podSelector) s.podSelector = p.podSelector;
  if (p.namespaceSelector) s.namespaceSelector = p.namespaceSelector;
  return s;
}

const listOrNull = <T>(l: T[] | undefined): T[] | null => (l && l.length > 0 ? l : null);

function normNp(np: NetworkPolicy): NormPolicy {
  const types = effectivePolicyTypes(np);
  return {
    kind: 'NetworkPolicy',
    namespace: np.metadata.namespace,
    name: np.metadata.name,
    podSelector: np.spec.podSelector,
    audit: false,
    ingress: {
      isolates: types.has('Ingress'),
      rules: types.has('Ingress')
        ? (np.spec.ingress ?? []).map((r) => ({ action: 'allow' as const, peers: listOrNull(r.from)?.map(peerOf) ?? null, ports: listOrNull(r.ports) }))
        : [],
    },
    egress: {
      isolates: types.has('Egress'),
      rules: types.has('Egress')
        ? (np.spec.egress ?? []).map((r) => ({ action: 'allow' as const, peers: listOrNull(r.to)?.map(peerOf) ?? null, ports: listOrNull(r.ports) }))
        : [],
    },
  };
}

function normDifw(dp: DifwPolicy): NormPolicy {
  const ing: NormRule[] = (dp.spec.ingress ?? []).map((r) => ({ action: r.action, peers: listOrNull(r.from)?.map(peerOf) ?? null, ports: listOrNull(r.ports) }));
  const egr: NormRule[] = (dp.spec.egress ?? []).map((r) => ({ action: r.action, peers: listOrNull(r.to)?.map(peerOf) ?? null, ports: listOrNull(r.ports) }));
  return {
    kind: 'DifwPolicy',
    namespace: dp.metadata.namespace,
    name: dp.metadata.name,
    podSelector: dp.spec.podSelector,
    audit: dp.spec.audit,
    ingress: { isolates: ing.some((r) => r.action === 'allow'), rules: ing },
    egress: { isolates: egr.some((r) => r.action === 'allow'), rules: egr },
  };
}

export function normalize(p: PolicyObject): NormPolicy {
  return p.kind === 'NetworkPolicy' ? normNp(p) : normDifw(p);
}
