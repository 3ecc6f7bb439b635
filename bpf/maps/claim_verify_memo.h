/* SPDX-License-Identifier: GPL-2.0 */
/*
 * claim_verify_memo: per-CPU, CLAIM_VERIFY_MEMO_SLOTS direct-mapped slots. The receiver's
 * lookups for a claimed (sending node, epoch, identity): the pairwise key from claim_keys, and
 * the fact that claim_hosted lists the identity for that node. A slot is written only when both
 * lookups succeeded, so a hit stands for both, and the verifier then does no hash lookup before
 * the MAC (the replay cache is still consulted for every SYN).
 *
 * Validity: the claim_cfg.serial the slot was filled under; the agent bumps it after every
 * change to claim_cfg, claim_keys or claim_hosted (a key retired or an identity no longer
 * hosted ends every slot made from it).
 *
 * Used by the TC policy programs only, which never nest on a CPU (softirq, or bottom halves
 * disabled on transmit), so a slot needs no guard. Not pinned: private to each object.
 */
#ifndef DIFW_MAPS_CLAIM_VERIFY_MEMO_H
#define DIFW_MAPS_CLAIM_VERIFY_MEMO_H

#include "maps/claim_keys.h"

#define CLAIM_VERIFY_MEMO_SLOTS 16 /* power of two; 40 bytes each per CPU */

struct claim_verify_memo {
	__u32 serial;   /* claim_cfg.serial the slot was filled under */
	__u32 identity; /* claimed identity */
	__u16 node_id;  /* sending node */
	__u8 epoch;     /* claim epoch */
	__u8 valid;     /* 0 = empty */
	__u32 _pad;
	struct claim_key key;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, CLAIM_VERIFY_MEMO_SLOTS);
	__type(key, __u32);
	__type(value, struct claim_verify_memo);
} claim_verify_memo SEC(".maps");

#endif
