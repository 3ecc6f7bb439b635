/**
 * Codecs of the claim maps (bpf/maps/claim_*.h). test/unit/claim-layout.test.ts compiles the
 * headers with gcc and checks every size and offset listed here.
 */
import { struct, u8, u16, u32, u64, bytes, type Codec, type StructCodec } from '../bpf/codec.js';

/** struct claim_addr { __u32 a[4]; } carried as 16 network-order bytes (align 4 as in C). */
export const claimAddr: Codec<Buffer> = { ...bytes(16), align: 4 };

export const claimCfg = struct('claim_cfg', [
  ['node_id', u16],
  ['send_epoch', u8],
  ['flags', u8],
  ['serial', u32],
] as const);
export const CLAIM_CFG_F_STAMP = 0x1;

export const claimLocal = struct('claim_local', [
  ['identity', u32],
  ['_pad', u32],
] as const);

export const claimPeer = struct('claim_peer', [
  ['node_id', u16],
  ['_pad', u16],
] as const);

export const claimKeyId = struct('claim_key_id', [
  ['node_id', u16],
  ['epoch', u8],
  ['_pad', u8],
] as const);

export const claimKey = struct('claim_key', [
  ['k0', u64],
  ['k1', u64],
] as const);

export const claimHostedKey = struct('claim_hosted_key', [
  ['identity', u32],
  ['node_id', u16],
  ['_pad', u16],
] as const);

/** claim_replay is an ARRAY of __u64 MAC tags (CLAIM_REPLAY_SLOTS in bpf/maps/claim_replay.h). */
export const CLAIM_REPLAY_SLOTS = 1 << 18;

/** Every struct codec, for the layout test. */
export const claimStructs: readonly StructCodec<any>[] = [claimCfg, claimLocal, claimPeer, claimKeyId, claimKey, claimHostedKey];

/** Headers declaring them (relative to bpf/). */
export const claimHeaders = ['maps/claim.h'];

/** enum claim_stat in bpf/maps/claim_stats.h, plus the verify results at 0..7. */
export const ClaimStat = {
  VERIFY_NONE: 0,
  VERIFY_OK: 1,
  VERIFY_BAD_MAC: 2,
  VERIFY_REPLAY: 3,
  VERIFY_STALE: 4,
  VERIFY_TRUNCATED: 5,
  VERIFY_UNKNOWN_NODE: 6,
  VERIFY_NOT_HOSTED: 7,
  STAMP_SYN: 8,
  STAMP_SYNACK: 9,
  SKIP_LOCAL: 10,
  SKIP_PEER: 11,
  SKIP_KEY: 12,
  SKIP_SPACE: 13,
  STORE_ERR: 14,
} as const;
export const CLAIM_ST_MAX = 16;
