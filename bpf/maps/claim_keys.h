/* SPDX-License-Identifier: GPL-2.0 */
/*
 * claim_keys: (other node, epoch) -> SipHash-2-4 key K(this node, other node, epoch). The key is
 * symmetric (both nodes derive the same one) and also exists for other node == this node
 * (pod-to-pod on one node). A node holds only keys involving itself.
 */
#ifndef DIFW_MAPS_CLAIM_KEYS_H
#define DIFW_MAPS_CLAIM_KEYS_H

struct claim_key_id {
	__u16 node_id; /* the other node */
	__u8 epoch;
	__u8 _pad;
};

struct claim_key {
	__u64 k0; /* key bytes 0..7, little endian (SipHash convention) */
	__u64 k1; /* key bytes 8..15, little endian */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct claim_key_id);
	__type(value, struct claim_key);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} claim_keys SEC(".maps");

#endif
