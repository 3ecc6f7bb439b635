/* SPDX-License-Identifier: GPL-2.0 */
/*
 * claim_stats: per-CPU counters (PERCPU_ARRAY of __u64). Indexes 0..7 count claim_verify
 * results (enum claim_result); the rest count what the sender did.
 */
#ifndef DIFW_MAPS_CLAIM_STATS_H
#define DIFW_MAPS_CLAIM_STATS_H

enum claim_stat {
	/* 0..7: enum claim_result of claim_verify() */
	CLAIM_ST_STAMP_SYN = 8,      /* SYN stamped */
	CLAIM_ST_STAMP_SYNACK = 9,   /* SYN-ACK stamped */
	CLAIM_ST_SKIP_LOCAL = 10,    /* socket's cgroup has no identity */
	CLAIM_ST_SKIP_PEER = 11,     /* destination not in claim_peers */
	CLAIM_ST_SKIP_KEY = 12,      /* no key for (peer, send epoch) or node unconfigured */
	CLAIM_ST_SKIP_SPACE = 13,    /* not enough TCP option space left (MD5, TFO cookie...) */
	CLAIM_ST_STORE_ERR = 14,     /* bpf_store_hdr_opt failed */
	CLAIM_ST_MAX = 16,
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, CLAIM_ST_MAX);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} claim_stats SEC(".maps");

#endif
