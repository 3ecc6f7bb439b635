/* SPDX-License-Identifier: GPL-2.0 */
/*
 * pod_ipcache: LPM trie, address -> address-derived identity. Key data = generation byte, family
 * byte (4 or 6: an IPv6 prefix such as ::/0 never covers IPv4), then the 16-byte address (IPv4 as
 * ::ffff:a.b.c.d), so prefixlen = 16 + 128 for an address, 16 + 96 + n for an IPv4 /n.
 * Entries: pod /32|/128 (POD_IPC_POD), node addresses (POD_IPC_HOST, identity 1), every ipBlock
 * prefix (identity 2 = world). `cidr_id` is the node-local identity of the most specific ipBlock
 * prefix containing the entry (0 if none). No entry: world, no CIDR identity.
 */
#ifndef DIFW_MAPS_POD_IPCACHE_H
#define DIFW_MAPS_POD_IPCACHE_H

#define POD_IPC_POD 0x1
#define POD_IPC_HOST 0x2

struct pod_ipc_key {
	__u32 prefixlen;
	__u8 gen;
	__u8 family;
	__u8 addr[16];
	__u8 _pad[2];
};

struct pod_ipc_val {
	__u32 id;
	__u32 cidr_id;
	__u32 flags;
};

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 65536);
	__type(key, struct pod_ipc_key);
	__type(value, struct pod_ipc_val);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pod_ipcache SEC(".maps");

#endif
