/* SPDX-License-Identifier: GPL-2.0 */
/*
 * claim_plan_cache: per-CPU, one slot. The sender's plan for the handshake packet being built,
 * computed in HDR_OPT_LEN_CB (reserve space) and reused by the WRITE_HDR_OPT_CB that follows it
 * for the same packet, on the same CPU, so the plan's lookups (config, the socket's cgroup,
 * claim_local, claim_peers, claim_keys) run once per SYN or SYN-ACK instead of twice.
 *
 * The slot names the packet it was made for (ports, remote address, SYN or SYN-ACK). Another
 * socket's callbacks on this CPU between the two (a softirq sending a SYN-ACK while a connect()
 * was between them) overwrite it; the writer then sees a different name and plans again.
 * Not pinned: private to the sockops object. The TypeScript side never reads it.
 */
#ifndef DIFW_MAPS_CLAIM_PLAN_H
#define DIFW_MAPS_CLAIM_PLAN_H

#include "maps/claim_addr.h"
#include "maps/claim_keys.h"

/* Everything needed to stamp one handshake packet. */
struct claim_plan {
	struct claim_key key;
	__u32 identity;
	__u16 node_id;
	__u8 epoch;
	__u8 _pad;
	struct claim_addr daddr;
};

struct claim_plan_slot {
	__u32 lport;  /* bpf_sock_ops.local_port as read; 0 = empty */
	__u32 rport;  /* bpf_sock_ops.remote_port as read */
	__u32 synack; /* 1 for a SYN-ACK */
	__u32 _pad;
	struct claim_plan plan;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct claim_plan_slot);
} claim_plan_cache SEC(".maps");

#endif
