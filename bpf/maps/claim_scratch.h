/* SPDX-License-Identifier: GPL-2.0 */
/*
 * claim_scratch: per-CPU, one slot. The receiver's working copy of a handshake packet's TCP
 * options and the state of the option walk (bpf/lib/claim.h), kept off the BPF stack: the
 * policy programs that verify claims are close to the 512-byte stack limit.
 *
 * Only TC programs use it, and they never nest on a CPU (softirq, or bottom halves disabled on
 * transmit), so one slot per CPU needs no guard. Not pinned: private to each object.
 */
#ifndef DIFW_MAPS_CLAIM_SCRATCH_H
#define DIFW_MAPS_CLAIM_SCRATCH_H

/* State of the TCP option walk (one bpf_loop step per option). */
struct claim_walk {
	__u8 opts[64];   /* the option bytes; only the first optlen are this packet's */
	__u32 optlen;
	__u32 off;
	__u32 found;     /* offset of the claim option, 0xffff if none */
	__u32 result;    /* CLAIM_NONE, or CLAIM_TRUNCATED on a cut experimental option */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct claim_walk);
} claim_scratch SEC(".maps");

#endif
