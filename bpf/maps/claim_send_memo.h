/* SPDX-License-Identifier: GPL-2.0 */
/*
 * claim_send_memo: per-CPU, CLAIM_SEND_MEMO_SLOTS direct-mapped slots. The sender's plan for a
 * (socket cgroup, destination address) pair: what the lookups of claim_local, claim_peers and
 * claim_keys gave the last time, so a SYN or SYN-ACK of a pair seen before costs no hash lookup
 * at all (HDR_OPT_LEN_CB and WRITE_HDR_OPT_CB both need the plan; the pair's next connection
 * needs it again).
 *
 * Validity: a slot holds the claim_cfg.serial it was filled under. The agent bumps the serial
 * after every change to claim_cfg, claim_local, claim_peers or claim_keys, so a slot never
 * outlives the entries it was made from (a program that read the old serial may still use the
 * old plan for the packet it is building, exactly as if it had run a moment earlier).
 *
 * Nesting: a sockops program in process context (connect()) can be interrupted on its CPU by a
 * softirq that runs the program again (a SYN-ACK sent for a listener). `busy` makes a slot a
 * per-CPU critical section: whoever finds it set neither reads nor writes the slot and does the
 * lookups instead, so neither can see the other's half-written plan.
 *
 * Not pinned: private to the sockops object. The TypeScript side never reads it.
 */
#ifndef DIFW_MAPS_CLAIM_SEND_MEMO_H
#define DIFW_MAPS_CLAIM_SEND_MEMO_H

#include "maps/claim_addr.h"
#include "maps/claim_keys.h"

#define CLAIM_SEND_MEMO_SLOTS 16 /* power of two; a node's hot pairs, 80 bytes each per CPU */

/* Everything needed to stamp one handshake packet, besides the packet itself. */
struct claim_plan {
	struct claim_key key; /* pairwise key of (this node, the destination's node, send epoch) */
	__u32 identity;       /* the socket cgroup's identity */
	__u16 node_id;        /* this node */
	__u8 epoch;           /* send epoch */
	__u8 _pad;
};

struct claim_send_memo {
	__u32 busy;              /* 1 while a program on this CPU reads or writes the slot */
	__u32 serial;            /* claim_cfg.serial the plan was made under */
	__u64 cgid;              /* socket cgroup id; 0 = empty */
	struct claim_addr daddr; /* destination address */
	struct claim_plan plan;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, CLAIM_SEND_MEMO_SLOTS);
	__type(key, __u32);
	__type(value, struct claim_send_memo);
} claim_send_memo SEC(".maps");

#endif
