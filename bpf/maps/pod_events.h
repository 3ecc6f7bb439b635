/* SPDX-License-Identifier: GPL-2.0 */
/*
 * pod_events: ring buffer of policy decisions worth reporting: drops and audit-mode would-be
 * drops (never the allowed packets). A full ring loses events, never packets.
 */
#ifndef DIFW_MAPS_POD_EVENTS_H
#define DIFW_MAPS_POD_EVENTS_H

#define POD_EV_DROP 1
#define POD_EV_AUDIT 2

#define POD_R_POLICY 1   /* new flow denied by policy */
#define POD_R_REVOKED 2  /* established flow denied after a policy/label change */
#define POD_R_NO_CT 3    /* mid-stream TCP packet of an unknown flow at an isolated pod */
#define POD_R_SYNACK 4   /* unsolicited SYN-ACK */
#define POD_R_PENDING 5  /* non-handshake packet while the egress verdict is pending */

#define POD_EVF_ADDR 0x1     /* peer identity address-derived */
#define POD_EVF_VERIFIED 0x2 /* peer identity from a verified claim */

struct pod_event {
	__u64 ts_ns;
	__u32 ifindex;
	__u32 local_id;
	__u32 peer_id;
	__u32 revision;
	__u8 local[16];
	__u8 remote[16];
	__be16 lport;
	__be16 rport;
	__u8 proto;
	__u8 dir;     /* 0 ingress (to the pod), 1 egress (from the pod) */
	__u8 verdict; /* POD_EV_* */
	__u8 reason;  /* POD_R_* */
	__u16 flags;  /* POD_EVF_* */
	__u8 claim;   /* enum claim_result of the packet (TCP handshakes) */
	__u8 _pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pod_events SEC(".maps");

#endif
