/**
 * Codecs of the pod policy maps (bpf/maps/pod_*.h). test/unit/netpol-layout.test.ts compiles the
 * headers with gcc and checks every size and offset listed here against the C structs.
 */
import { struct, u8, u16, u32, u64, be16, bytes, type StructCodec } from '../../bpf/codec.js';

export const podConfig = struct('pod_config', [
  ['gen', u32],
  ['revision', u32],
  ['flags', u32],
  ['_pad', u32],
] as const);

export const podEpKey = struct('pod_ep_key', [
  ['ifindex', u32],
  ['gen', u32],
] as const);

export const podEpVal = struct('pod_ep_val', [
  ['ep', u32],
  ['identity', u32],
  ['flags', u32],
  ['lookups', u32],
] as const);

export const podIpcKey = struct('pod_ipc_key', [
  ['prefixlen', u32],
  ['gen', u8],
  ['family', u8],
  ['addr', bytes(16)],
  ['_pad', bytes(2)],
] as const);

export const podIpcVal = struct('pod_ipc_val', [
  ['id', u32],
  ['cidr_id', u32],
  ['flags', u32],
] as const);

export const podPolicyKey = struct('pod_policy_key', [
  ['ep', u32],
  ['peer', u32],
  ['port', u16],
  ['proto', u8],
  ['flags', u8],
] as const);

export const podPolicyVal = struct('pod_policy_val', [['bits', u32]] as const);

export const podCtKey = struct('pod_ct_key', [
  ['ifindex', u32],
  ['local', bytes(16)],
  ['remote', bytes(16)],
  ['lport', be16],
  ['rport', be16],
  ['proto', u8],
  ['_pad', bytes(3)],
] as const);

export const podCtVal = struct('pod_ct_val', [
  ['revision', u32],
  ['peer', u32],
  ['flags', u16],
  ['svc_port', u16],
  ['isn', u32],
  ['created_ns', u64],
] as const);

export const podEvent = struct('pod_event', [
  ['ts_ns', u64],
  ['ifindex', u32],
  ['local_id', u32],
  ['peer_id', u32],
  ['revision', u32],
  ['local', bytes(16)],
  ['remote', bytes(16)],
  ['lport', be16],
  ['rport', be16],
  ['proto', u8],
  ['dir', u8],
  ['verdict', u8],
  ['reason', u8],
  ['flags', u16],
  ['claim', u8],
  ['_pad', u8],
] as const);

/** pod_ev_budget: per-CPU token bucket of pod_events (bpf/maps/pod_ev_budget.h). */
export const podEvBudget = struct('pod_ev_budget', [
  ['last_ns', u64],
  ['tokens', u64],
  ['lost', u64],
] as const);

export const podStructs: readonly StructCodec<any>[] = [podConfig, podEpKey, podEpVal, podIpcKey, podIpcVal, podPolicyKey, podPolicyVal, podCtKey, podCtVal, podEvent, podEvBudget];
export const podHeaders = ['maps/pod.h'];

/** Policy key flags byte: direction bit 0, port kind bits 1-2, generation bit 7. */
export const policyFlags = (dir: number, kind: number, gen: number) => (dir & 1) | ((kind & 3) << 1) | ((gen & 1) << 7);

export const CT = { EGRESS: 0x1, PENDING: 0x2, ADDR: 0x4, BOUND: 0x8, VERIFIED: 0x10, HOST: 0x20, OPEN: 0x40 } as const;
export const EV = { DROP: 1, AUDIT: 2 } as const;
export const REASON = { 1: 'policy', 2: 'revoked', 3: 'no-conntrack', 4: 'unsolicited-synack', 5: 'pending' } as Record<number, string>;
export const EVF = { ADDR: 0x1, VERIFIED: 0x2 } as const;
