/**
 * The real node datapath: the policy compiler's PodDatapath plus the claim datapath.
 * (Integration point; until both land this enforces nothing.)
 */
import { type NodeDatapath, type NodeDatapathOptions, NullDatapath } from './node-datapath.js';

export async function makeNodeDatapath(_o: NodeDatapathOptions): Promise<NodeDatapath> {
  return new NullDatapath();
}
