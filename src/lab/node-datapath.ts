/**
 * What a lab node agent drives: the pod datapath (policy programs on each pod veth) and the claim
 * datapath (sockops on the node's pod-parent cgroup). `NodeDatapath` is the seam between the agent
 * (transport, revisions, acks) and the eBPF side, so the agent can be tested and run with the
 * `none` datapath, which enforces nothing and says so in /v1/health.
 */
import type { Logger } from '../log.js';
import type { TablesPush } from '../controlplane/protocol.js';

export interface NodeDatapath {
  readonly kind: string;
  /** Make the node enforce `push` (attach new pods, detach gone ones, swap tables). */
  apply(push: TablesPush): Promise<void>;
  /** Flow events the datapath could not report (rate limit, full ring buffer). */
  eventsLost?(): number;
  close(): Promise<void>;
}

export interface NodeDatapathOptions {
  node: string;
  nodeId: number;
  bpffs: string;
  cgroup: string;
  objDir: string;
  log: Logger;
}

/** Tracks pods, enforces nothing: used when DIFW_LAB_DATAPATH=none. */
export class NullDatapath implements NodeDatapath {
  readonly kind = 'none';
  async apply(): Promise<void> {}
  async close(): Promise<void> {}
}
