/* SPDX-License-Identifier: GPL-2.0 */
/*
 * pod_endpoints: host-side veth ifindex (+ generation) -> the pod behind it: its endpoint
 * number (policy key), identity, isolation bits (POD_ISO_*) and which kinds of pod_policy rows
 * exist for it (`lookups`, POD_LK_*), so the verdict skips lookups that cannot hit.
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

/*
 * `lookups`: bit (dir * 8 + (peer ? 4 : 0) + class) is set when the endpoint has at least one
 * pod_policy row in that direction with a specific peer (peer != 0) or any peer (peer 0), of
 * port class POD_LK_EXACT, POD_LK_BLOCK, POD_LK_ANYPORT (a protocol, any port) or
 * POD_LK_ANYPROTO (any protocol). A clear bit means every lookup of that kind would miss.
 */
#define POD_LK_EXACT 0
#define POD_LK_BLOCK 1
#define POD_LK_ANYPORT 2
#define POD_LK_ANYPROTO 3
#define POD_LK_BIT(dir, peer, cls) (1u << ((dir) * 8 + ((peer) ? 4 : 0) + (cls)))

struct pod_ep_val {
	__u32 ep;
	__u32 identity;
	__u32 flags;
	__u32 lookups;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct pod_ep_key);
	__type(value, struct pod_ep_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pod_endpoints SEC(".maps");

#endif
