/* Shared includes and small helpers for the difw BPF programs. */
#ifndef DIFW_LIB_COMMON_H
#define DIFW_LIB_COMMON_H
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "maps/config.h"
#include "maps/rule_tuples.h"
#include "maps/rule_keys.h"
#include "maps/rule_actions.h"
#include "maps/ct.h"
#include "maps/limit.h"
#include "maps/frag.h"
#include "maps/events.h"
#include "maps/ev_budget.h"
#include "maps/stats.h"
#include "maps/xdp_meta.h"

#define DIFW_INLINE static __always_inline

#define ETH_HLEN 14
#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD

#ifndef IPPROTO_ICMPV6
#define IPPROTO_ICMPV6 58
#endif

#define TC_ACT_OK 0
#define TC_ACT_SHOT 2
#define TC_ACT_REDIRECT 7

#define NSEC_PER_SEC 1000000000ull

/* Make the compiler forget what it knows about `x` (keeps bounds checks on the register used). */
#ifndef barrier_var
#define barrier_var(x) asm volatile("" : "+r"(x))
#endif

/* Our own packet layouts, independent of vmlinux.h's bitfield structs. */
struct ip4h {
	__u8 vihl;
	__u8 tos;
	__be16 tot_len;
	__be16 id;
	__be16 frag_off;
	__u8 ttl;
	__u8 proto;
	__sum16 check;
	__be32 saddr;
	__be32 daddr;
};

struct ip6h {
	__be32 vtcfl;
	__be16 plen;
	__u8 nexthdr;
	__u8 hlim;
	__u8 saddr[16];
	__u8 daddr[16];
};

struct tcph {
	__be16 source;
	__be16 dest;
	__be32 seq;
	__be32 ack_seq;
	__u8 doff_res;  /* data offset in the high nibble */
	__u8 flags;
	__be16 window;
	__sum16 check;
	__be16 urg_ptr;
};

#define TCPF_FIN 0x01
#define TCPF_SYN 0x02
#define TCPF_RST 0x04
#define TCPF_PSH 0x08
#define TCPF_ACK 0x10
#define TCPF_URG 0x20

struct udph {
	__be16 source;
	__be16 dest;
	__be16 len;
	__sum16 check;
};

struct icmph {
	__u8 type;
	__u8 code;
	__sum16 check;
	__be16 id;
	__be16 seq;
};

DIFW_INLINE void stat_inc(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&fw_stats, &idx);
	if (v)
		*v += 1;
}

DIFW_INLINE __u16 csum_fold(__u64 s)
{
	s = (s & 0xffffffff) + (s >> 32);
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (__u16)~s;
}

/*
 * The host firewall's clock: CLOCK_MONOTONIC_COARSE (one tick, 1-4 ms, behind the precise clock
 * at most). Every deadline it keeps is in seconds (conntrack timeouts, `limit`'s 30 s window,
 * fragment memory, the event budget), and netfilter measures the same ones in jiffies; the
 * precise clock costs a paravirtual clock read per packet on a VM (tens of ns). Every host
 * program that writes stamps uses this clock (nf_output, which only reads them, cannot call it).
 */
DIFW_INLINE __u64 fw_now(void)
{
	return bpf_ktime_get_coarse_ns();
}

/* TC programs read headers directly: make the first PULL_LEN bytes of the frame (or all of a
 * shorter one) linear. Pull only when they are not: a pull on a cloned skb (TCP keeps the
 * original for retransmission) copies the head. Refreshes *data / *data_end. */
#define PULL_LEN 256
DIFW_INLINE void skb_linear_headers(struct __sk_buff *skb, void **data, void **data_end)
{
	__u32 len = skb->len;
	__u32 want = len < PULL_LEN ? len : PULL_LEN;
	barrier_var(want);
	want &= 0x1ff;
	*data = (void *)(long)skb->data;
	*data_end = (void *)(long)skb->data_end;
	if (*data + want > *data_end) {
		bpf_skb_pull_data(skb, want);
		*data = (void *)(long)skb->data;
		*data_end = (void *)(long)skb->data_end;
	}
}

/*
 * The configuration of the active rule-table generation. The agent writes a whole generation,
 * then flips the 4-byte word in entry FW_CONFIG_ACTIVE, so a packet sees either the old or the
 * new tables, never a mix. NULL before any table set was installed.
 */
DIFW_INLINE struct fw_config *fw_active_config_serial(__u32 *gen, __u32 *serial)
{
	__u32 key = FW_CONFIG_ACTIVE;
	struct fw_config *act = bpf_map_lookup_elem(&fw_config, &key);

	if (!act)
		return NULL;
	*serial = act->generation;
	*gen = *serial & 1;
	key = *gen + 1;
	return bpf_map_lookup_elem(&fw_config, &key);
}

DIFW_INLINE struct fw_config *fw_active_config(__u32 *gen)
{
	__u32 serial;

	return fw_active_config_serial(gen, &serial);
}

#endif
