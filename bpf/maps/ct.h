/* Map `ct`: LRU hash of connections, shared by ingress (XDP) and egress (TC), pinned so it
 * survives an agent restart.
 *
 * The key is canonical: endpoint A is the lower (address, port) pair, so both directions of a
 * flow hash to one entry with one lookup; `flags & CT_F_ORIG_A` says which end opened it.
 * ICMP/ICMPv6 echo uses the identifier as both ports. Other protocols (GRE, ESP, ...) are
 * tracked by address pair with ports 0, like netfilter's generic tracker. */
#ifndef DIFW_MAP_CT_H
#define DIFW_MAP_CT_H
#include "types.h"

#define FW_CT_ENTRIES 65536

struct ct_key {
	__u8 family;   /* 4 or 6 */
	__u8 proto;
	__be16 port_a;
	__be16 port_b;
	__u16 pad;
	__u8 addr_a[16];
	__u8 addr_b[16];
};

/* ct_entry.state */
#define CT_NEW 1       /* opened, no reply seen yet */
#define CT_SYN_RECV 2  /* TCP: SYN-ACK seen */
#define CT_EST 3
#define CT_FIN 4       /* TCP: FIN seen */
#define CT_CLOSE 5     /* TCP: RST seen */

/* ct_entry.flags */
#define CT_F_ORIG_A 0x01     /* endpoint A sent the first packet */
#define CT_F_SEEN_REPLY 0x02

struct ct_entry {
	__u64 expires_ns;  /* fw_now() deadline; an expired entry counts as absent */
	__u8 state;
	__u8 flags;
	__u16 ok_iif;      /* low 16 bits of the interface ok_serial's packet came in on */
	/* Ingress only: the rule-set serial (fw_config[FW_CONFIG_ACTIVE].generation) under which
	 * a NEW packet of this flow was accepted with no per-packet side effect (no limit rule, no
	 * log). Until a reply makes the flow ESTABLISHED, its later NEW packets (a one-way UDP
	 * stream) take that verdict again instead of walking the rules. 0 = none. */
	__u32 ok_serial;
};

#ifdef DIFW_BPF
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, FW_CT_ENTRIES);
	__type(key, struct ct_key);
	__type(value, struct ct_entry);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} fw_ct SEC(".maps");
#endif
#endif
