/**
 * What the control plane sends a lab node agent (PUT /v1/tables) and what the agent answers.
 * One message carries the node's whole desired state for one store revision, so an agent that
 * missed a revision (restarted, slow) converges on the next one; the agent acks the revision it
 * now enforces.
 */
import { z } from 'zod';

export const PodEntry = z.object({
  namespace: z.string(),
  name: z.string(),
  ip: z.string(),
  /** node-side veth name, in the node's netns */
  hostIf: z.string(),
  /** cgroup v2 directory of the pod */
  cgroup: z.string(),
  /** numeric identity of the pod (0 until the policy compiler assigns one) */
  identity: z.number().int().nonnegative(),
});
export type PodEntry = z.infer<typeof PodEntry>;

export const ClaimKey = z.object({ peer: z.number().int(), epoch: z.number().int(), key: z.string().regex(/^[0-9a-f]{32}$/) });
export const ClaimConfig = z.object({
  nodeId: z.number().int().min(1).max(65535),
  epoch: z.number().int().min(0).max(255),
  /** pairwise keys involving this node only (peer node id, epoch, 16-byte key hex) */
  keys: z.array(ClaimKey),
  /** address -> node id: pod addresses and node fabric addresses of the whole lab */
  peers: z.array(z.object({ ip: z.string(), node: z.number().int() })),
  /** which identities each node hosts (a node may only claim those) */
  hosted: z.array(z.object({ node: z.number().int(), identity: z.number().int() })),
});
export type ClaimConfig = z.infer<typeof ClaimConfig>;

export const TablesPush = z.object({
  revision: z.number().int().nonnegative(),
  /** the policy compiler's NodeTables for this node, opaque to the transport */
  tables: z.unknown(),
  pods: z.array(PodEntry),
  claims: ClaimConfig,
});
export type TablesPush = z.infer<typeof TablesPush>;

export const Ack = z.object({ node: z.string(), revision: z.number().int(), applyMs: z.number().optional() });
export type Ack = z.infer<typeof Ack>;

export const Health = z.object({ node: z.string(), revision: z.number().int(), datapath: z.string(), pods: z.number().int(), eventsLost: z.number().int().nonnegative() });
export type Health = z.infer<typeof Health>;
