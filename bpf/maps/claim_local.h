/* SPDX-License-Identifier: GPL-2.0 */
/*
 * claim_local: cgroup v2 id (inode number of the cgroup directory) -> identity its sockets
 * claim. Only sockets whose own cgroup is listed are stamped; a child cgroup of a listed one is
 * not (the lab puts every pod in its own leaf cgroup).
 */
#ifndef DIFW_MAPS_CLAIM_LOCAL_H
#define DIFW_MAPS_CLAIM_LOCAL_H

struct claim_local {
	__u32 identity; /* allocated identity (>= 256) or reserved (1 = host) */
	__u32 _pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct claim_local);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} claim_local SEC(".maps");

#endif
