/* SPDX-License-Identifier: GPL-2.0 */
/*
 * pod_ct: per-pod connection tracking (LRU). One entry per (pod veth, local addr/port, remote
 * addr/port, protocol), the same for both directions. `revision` is the pod_config revision the
 * flow was last judged under; a packet seeing an older one re-evaluates the flow.
 */
#ifndef DIFW_MAPS_POD_CT_H
#define DIFW_MAPS_POD_CT_H

#define POD_CT_EGRESS 0x1     /* the pod opened the flow (its egress policy rules it) */
#define POD_CT_PENDING 0x2    /* TCP: SYN sent, egress verdict waits for the server's SYN-ACK claim */
#define POD_CT_ADDR 0x4       /* identity is address-derived (UDP, ICMP, other) */
#define POD_CT_BOUND 0x8      /* TCP: the verified claim matched the peer address's pod identity */
#define POD_CT_VERIFIED 0x10  /* TCP: identity from a verified claim */
#define POD_CT_HOST 0x20      /* peer is this node (host entity) */
#define POD_CT_OPEN 0x40      /* TCP: the initiator sent a non-SYN packet: a later SYN is a new connection */

struct pod_ct_key {
	__u32 ifindex;
	__u8 local[16];
	__u8 remote[16];
	__be16 lport;
	__be16 rport;
	__u8 proto;
	__u8 _pad[3];
};

struct pod_ct_val {
	__u32 revision;
	__u32 peer;       /* peer identity the flow was judged with */
	__u16 flags;      /* POD_CT_* */
	__u16 svc_port;   /* host order: the service (destination) port of the flow */
	__u32 isn;        /* TCP: sequence number of the opening SYN (host order), to tell a
			   * retransmission from a new connection on the same addresses and ports */
	__u64 created_ns;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 262144);
	__type(key, struct pod_ct_key);
	__type(value, struct pod_ct_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pod_ct SEC(".maps");

#endif
