/* Map `events`: ring buffer of struct fw_event (logged packets), read by the agent.
 * The producers rate-limit per CPU (map `ev_budget`) so a flood cannot fill the ring. */
#ifndef DIFW_MAP_EVENTS_H
#define DIFW_MAP_EVENTS_H
#include "types.h"

#define FW_EVENTS_BYTES (256 * 1024)

/* fw_event.tag: ufw's log prefixes */
#define FW_EV_BLOCK 1        /* [UFW BLOCK] */
#define FW_EV_ALLOW 2        /* [UFW ALLOW] */
#define FW_EV_AUDIT 3        /* [UFW AUDIT] */
#define FW_EV_LIMIT_BLOCK 4  /* [UFW LIMIT BLOCK] */
#define FW_EV_INVALID 5      /* [UFW AUDIT INVALID] */
#define FW_EV_LIMIT 6        /* [UFW LIMIT]: a logged limit rule that accepted */

/* fw_event.verdict */
#define FW_V_PASS 1
#define FW_V_DROP 2
#define FW_V_REJECT 3

struct fw_event {
	__u64 ts_ns;
	__u32 in_ifindex;
	__u32 out_ifindex;
	__u32 rule;      /* ufw rule number (1-based), 0 for policies and built-in rules */
	__u16 pkt_len;   /* IP total length */
	__u8 family;
	__u8 proto;
	__u8 tag;        /* FW_EV_* */
	__u8 chain;      /* FW_CHAIN_* */
	__u8 verdict;    /* FW_V_* */
	__u8 tcp_flags;
	__be16 sport;
	__be16 dport;
	__u8 src[16];
	__u8 dst[16];
};

#ifdef DIFW_BPF
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, FW_EVENTS_BYTES);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} fw_events SEC(".maps");
#endif
#endif
