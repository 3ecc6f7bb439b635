/* SPDX-License-Identifier: GPL-2.0 */
/*
 * pod_policy: (endpoint, direction, peer identity, protocol, port) -> verdict bits.
 * peer 0 = any peer; proto 0 = any protocol (port kind ANY). `flags` packs the direction
 * (bit 0: 0 ingress, 1 egress), the port kind (bits 1-2: POD_PK_*) and the generation (bit 7).
 * Port: host order; for POD_PK_BLOCK the 256-port block index (port >> 8).
 */
#ifndef DIFW_MAPS_POD_POLICY_H
#define DIFW_MAPS_POD_POLICY_H

#define POD_PK_ANY 0
#define POD_PK_EXACT 1
#define POD_PK_BLOCK 2
#define POD_BLOCK_SHIFT 8

#define POD_B_ALLOW 0x1
#define POD_B_DENY 0x2
#define POD_B_AUDIT_ALLOW 0x4
#define POD_B_AUDIT_DENY 0x8

struct pod_policy_key {
	__u32 ep;
	__u32 peer;
	__u16 port;
	__u8 proto;
	__u8 flags;
};

struct pod_policy_val {
	__u32 bits;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 262144);
	__type(key, struct pod_policy_key);
	__type(value, struct pod_policy_val);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pod_policy SEC(".maps");

#endif
