/**
 * A resolved view of the objects: namespaces with their effective labels, pods with addresses,
 * node and identity, and the policies. Both the reference evaluator and the compiler start here.
 */
import { type ClusterObject, type Namespace, type Pod, type PolicyObject, namespaceLabels, podAddresses, podNode } from './model.js';
import { allocateIdentities, canonicalLabels } from './identity.js';
import { parseAddr } from './cidr.js';
import type { Labels } from './selectors.js';

export interface PodView {
  key: string; // ns/name
  namespace: string;
  name: string;
  labels: Labels;
  nsLabels: Labels;
  ips: string[];
  addrs: bigint[];
  node: string | undefined;
  identity: number;
  canonical: string;
  pod: Pod;
}

export interface ClusterView {
  namespaces: Map<string, Labels>;
  pods: PodView[];
  podsByKey: Map<string, PodView>;
  policies: PolicyObject[];
  /** canonical label set -> identity number */
  identities: Map<string, number>;
}

export function buildCluster(objects: readonly ClusterObject[]): ClusterView {
  const nsObjs = new Map<string, Namespace>();
  const pods = new Map<string, Pod>();
  const policies = new Map<string, PolicyObject>();
  // Later objects replace earlier ones with the same kind/namespace/name (apply semantics).
  for (const o of objects) {
    if (o.kind === 'Namespace') nsObjs.set(o.metadata.name, o);
    else if (o.kind === 'Pod') pods.set(`${o.metadata.namespace}/${o.metadata.name}`, o);
    else policies.set(`${o.kind}/${o.metadata.namespace}/${o.metadata.name}`, o);
  }
  const namespaces = new Map<string, Labels>();
  for (const [n, o] of nsObjs) namespaces.set(n, namespaceLabels(n, o));
  const nsLabelsOf = (n: string) => namespaces.get(n) ?? namespaceLabels(n, undefined);
  const pre = [...pods.values()].map((p) => {
    const nsLabels = nsLabelsOf(p.metadata.namespace);
    return { p, nsLabels, canonical: canonicalLabels(p.metadata.labels, nsLabels) };
  });
  const identities = allocateIdentities(pre.map((x) => x.canonical));
  const views: PodView[] = pre
    .map(({ p, nsLabels, canonical }) => {
      const ips = podAddresses(p);
      return {
        key: `${p.metadata.namespace}/${p.metadata.name}`,
        namespace: p.metadata.namespace,
        name: p.metadata.name,
        labels: p.metadata.labels,
        nsLabels,
        ips,
        addrs: ips.map((ip) => parseAddr(ip)!.addr),
        node: podNode(p),
        identity: identities.get(canonical)!,
        canonical,
        pod: p,
      };
    })
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const sortedPolicies = [...policies.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, v]) => v);
  return { namespaces, pods: views, podsByKey: new Map(views.map((v) => [v.key, v])), policies: sortedPolicies, identities };
}
