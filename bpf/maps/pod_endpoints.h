/* SPDX-License-Identifier: GPL-2.0 */
/*
 * pod_endpoints: host-side veth ifindex (+ generation) -> the pod behind it: its endpoint
 * number (policy key), identity and isolation bits (POD_ISO_*).
 */
#ifndef DIFW_MAPS_POD_ENDPOINTS_H
#define DIFW_MAPS_POD_ENDPOINTS_H

#define POD_ISO_INGRESS 0x1       /* isolated for ingress by an enforced policy */
#define POD_ISO_EGRESS 0x2
#define POD_ISO_AUDIT_INGRESS 0x4 /* isolated for ingress by an audit-mode policy */
#define POD_ISO_AUDIT_EGRESS 0x8
#define POD_EP_HAS_DENY 0x10      /* some enforced deny rule applies to this pod */

struct pod_ep_key {
	__u32 ifindex;
	__u32 gen;
};

struct pod_ep_val {
	__u32 ep;
	__u32 identity;
	__u32 flags;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct pod_ep_key);
	__type(value, struct pod_ep_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pod_endpoints SEC(".maps");

#endif
