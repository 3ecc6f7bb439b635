/* SPDX-License-Identifier: GPL-2.0 */
/*
 * claim_hosted: (identity, node) present = the control plane placed a workload with that
 * identity on that node. A node may only claim identities it hosts: this bounds what a
 * compromised node can claim.
 */
#ifndef DIFW_MAPS_CLAIM_HOSTED_H
#define DIFW_MAPS_CLAIM_HOSTED_H

struct claim_hosted_key {
	__u32 identity;
	__u16 node_id;
	__u16 _pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct claim_hosted_key);
	__type(value, __u32); /* 1; reserved for a reference count */
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} claim_hosted SEC(".maps");

#endif
