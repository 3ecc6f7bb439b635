/**
 * The NodeCompiler backed by the NetworkPolicy compiler (src/policy/netpol): object validation by
 * its zod schemas, identities from its allocator, per-node tables from compileNode. Node fabric
 * addresses are the `host` entity; pod veths are named by the lab's naming scheme.
 */
import type { NodeCompiler } from './compile.js';
import type { KubeObject } from './store.js';
import type { LabState } from '../lab/state.js';
import { labConfig, podHostIf, type LabConfig } from '../lab/config.js';
import { parseObject, type ClusterObject } from '../policy/netpol/model.js';
import { buildCluster } from '../policy/netpol/cluster.js';
import { compileNode } from '../policy/netpol/compile.js';

const modelled = (objects: KubeObject[]) => objects.filter((o) => o.kind !== 'Lab') as unknown as ClusterObject[];

export function netpolCompiler(cfg: LabConfig = labConfig()): NodeCompiler {
  return {
    validate(o) {
      if (o.kind === 'Lab') return o;
      return (parseObject(o) ?? o) as unknown as KubeObject;
    },
    compileNode(objects: KubeObject[], node: string, lab: LabState, revision: number) {
      return compileNode(modelled(objects), node, {
        revision,
        ifname: (p) => podHostIf(cfg, p.namespace, p.name),
        hostAddresses: lab.nodes.map((n) => n.fabricIp),
      });
    },
    podIdentities(objects) {
      const c = buildCluster(modelled(objects));
      return new Map(c.pods.map((p) => [p.key, p.identity]));
    },
  };
}
