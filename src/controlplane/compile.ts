/**
 * The control plane's view of the policy compiler and of the claim keys: for one store revision,
 * what each node agent must enforce. Pure apart from reading the store contents it is given.
 */
import { nodeKeyring, epochsToInstall } from '../identity/keys.js';
import type { KubeObject } from './store.js';
import type { ClaimConfig, PodEntry, TablesPush } from './protocol.js';
import type { LabState } from '../lab/state.js';

export interface NodeCompiler {
  /** Check one object against its kind's schema; throws a DifwError "Cannot …" when invalid. */
  validate(o: KubeObject): KubeObject;
  /** NodeTables for one node, JSON-serialisable. */
  compileNode(objects: KubeObject[], node: string, lab: LabState, revision: number): unknown;
  /** identity number of each pod ("ns/name" -> id) */
  podIdentities(objects: KubeObject[]): Map<string, number>;
}

export function claimConfig(lab: LabState, nodeName: string, ids: Map<string, number>): ClaimConfig {
  const me = lab.nodes.find((n) => n.name === nodeName)!;
  // Receivers keep the previous epoch's keys (a SYN stamped just before a switch still verifies)
  // and, during a rotation, already hold the next one's before any node sends with it.
  const epochs = epochsToInstall(lab.keyEpoch, { next: lab.nextEpoch !== undefined });
  const byName = new Map(lab.nodes.map((n) => [n.name, n.id]));
  return {
    nodeId: me.id,
    epoch: lab.keyEpoch,
    // each node gets only the keys of pairs it belongs to
    keys: nodeKeyring(Buffer.from(lab.secret, 'hex'), me.id, lab.nodes.map((n) => n.id), epochs).map((k) => ({ peer: k.node, epoch: k.epoch, key: k.key.toString('hex') })),
    peers: [
      ...lab.nodes.map((n) => ({ ip: n.fabricIp, node: n.id })),
      ...lab.pods.map((p) => ({ ip: p.ip, node: byName.get(p.node)! })),
    ],
    hosted: lab.pods
      .map((p) => ({ node: byName.get(p.node)!, identity: ids.get(`${p.namespace}/${p.name}`) ?? 0 }))
      .filter((h) => h.identity !== 0),
  };
}

export function buildPushes(lab: LabState, objects: KubeObject[], revision: number, compiler: NodeCompiler): Map<string, TablesPush> {
  const ids = compiler.podIdentities(objects);
  const out = new Map<string, TablesPush>();
  for (const n of lab.nodes) {
    const pods: PodEntry[] = lab.pods
      .filter((p) => p.node === n.name)
      .map((p) => ({ namespace: p.namespace, name: p.name, ip: p.ip, hostIf: p.hostIf, cgroup: p.cgroup, identity: ids.get(`${p.namespace}/${p.name}`) ?? 0 }));
    out.set(n.name, { revision, tables: compiler.compileNode(objects, n.name, lab, revision), pods, claims: claimConfig(lab, n.name, ids) });
  }
  return out;
}
