/* SPDX-License-Identifier: GPL-2.0 */
/*
 * claim_cfg: this node's claim configuration (ARRAY, one entry at index 0).
 * Written by src/identity/claims.ts (codec claimCfg in src/identity/layouts.ts).
 * Shared by name (pinned) between the sockops object and the policy TC objects.
 */
#ifndef DIFW_MAPS_CLAIM_CFG_H
#define DIFW_MAPS_CLAIM_CFG_H

#define CLAIM_CFG_F_STAMP 0x1 /* stamp outgoing SYN/SYN-ACK (off: claims are only verified) */

struct claim_cfg {
	__u16 node_id;    /* this node's id, 1..65535; 0 = unconfigured: never stamp, never verify */
	__u8 send_epoch;  /* key epoch the sender stamps with; the receiver accepts send_epoch-1..+1 */
	__u8 flags;       /* CLAIM_CFG_F_* */
	__u32 serial;     /* bumped by the agent after every change to the claim maps: ends the
			   * programs' per-CPU memos (maps/claim_send_memo.h, claim_verify_memo.h) */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct claim_cfg);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} claim_cfg SEC(".maps");

#endif
