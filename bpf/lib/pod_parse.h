/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Packet parsing for the pod policy programs (TC on the host side of a pod veth: the skb starts
 * at the Ethernet header). Headers are copied with skb_load (lib/skb_load.h), so non-linear
 * skbs need no pull. Limits: no VLAN tags (not IP: passed); IPv6 extension headers are not walked (the
 * protocol is the first next-header, ports 0); non-first IPv4 fragments carry no ports.
 * ICMP/ICMPv6 echo: both "ports" are the echo id, so a request and its reply share a flow.
 * ICMP/ICMPv6 errors: the quoted header is parsed too (pod_pkt.related), see tc_pod.bpf.c.
 */
#ifndef DIFW_LIB_POD_PARSE_H
#define DIFW_LIB_POD_PARSE_H

#include "lib/skb_load.h"

#define POD_ETH_HLEN 14
#define POD_ETH_P_IP 0x0800
#define POD_ETH_P_IPV6 0x86DD

#define POD_TH_FIN 0x01
#define POD_TH_SYN 0x02
#define POD_TH_RST 0x04
#define POD_TH_ACK 0x10

struct pod_pkt {
	__u8 saddr[16]; /* IPv4 as ::ffff:a.b.c.d */
	__u8 daddr[16];
	__be16 sport;
	__be16 dport;
	__u32 l4_off;
	__u32 seq;      /* TCP, host order */
	__u32 ack_seq;
	__u8 family;    /* 4 or 6 */
	__u8 proto;
	__u8 tcp_flags;
	__u8 ndisc;     /* ICMPv6 neighbour discovery (types 133-137): link plumbing, never policed */
	/* ICMP/ICMPv6 error (unreachable, too big, time exceeded, parameter problem): where the
	 * quoted packet starts, so the error can follow the flow it is about (pod_related_key). */
	__u8 related;   /* 4 or 6: family of the quoted header; 0: not an error */
	__u8 _pad;
	__u16 related_off;
};

static __always_inline void pod_map_v4(__u8 *dst, __u32 v4 /* network order */)
{
	__builtin_memset(dst, 0, 10);
	dst[10] = 0xff;
	dst[11] = 0xff;
	__builtin_memcpy(dst + 12, &v4, 4);
}



/* Returns 0 when p holds an IP packet, -1 otherwise (not IP, or truncated). */
static __always_inline int pod_parse(struct __sk_buff *skb, struct pod_pkt *p)
{
	__u16 eth_proto;
	__u32 l4;
	__u8 proto;
	int later_frag = 0;

	if (skb_load(skb, 12, &eth_proto, 2) < 0)
		return -1;
	if (eth_proto == bpf_htons(POD_ETH_P_IP)) {
		__u8 ih[20];
		if (skb_load(skb, POD_ETH_HLEN, ih, 20) < 0)
			return -1;
		if ((ih[0] >> 4) != 4 || (ih[0] & 0xf) < 5)
			return -1;
		p->family = 4;
		proto = ih[9];
		later_frag = (((__u16)(ih[6] & 0x1f) << 8) | ih[7]) != 0;
		__u32 s, d;
		__builtin_memcpy(&s, ih + 12, 4);
		__builtin_memcpy(&d, ih + 16, 4);
		pod_map_v4(p->saddr, s);
		pod_map_v4(p->daddr, d);
		l4 = POD_ETH_HLEN + (ih[0] & 0xf) * 4;
	} else if (eth_proto == bpf_htons(POD_ETH_P_IPV6)) {
		__u8 ih[40];
		if (skb_load(skb, POD_ETH_HLEN, ih, 40) < 0)
			return -1;
		if ((ih[0] >> 4) != 6)
			return -1;
		p->family = 6;
		proto = ih[6];
		__builtin_memcpy(p->saddr, ih + 8, 16);
		__builtin_memcpy(p->daddr, ih + 24, 16);
		l4 = POD_ETH_HLEN + 40;
	} else {
		return -1;
	}
	p->proto = proto;
	p->l4_off = l4;
	p->sport = p->dport = 0;
	p->tcp_flags = 0;
	p->ndisc = 0;
	p->related = 0;
	p->seq = p->ack_seq = 0;
	if (later_frag)
		return 0;
	if (proto == IPPROTO_TCP) {
		__u8 th[14];
		if (skb_load(skb, l4, th, 14) < 0)
			return -1;
		__builtin_memcpy(&p->sport, th, 2);
		__builtin_memcpy(&p->dport, th + 2, 2);
		p->seq = ((__u32)th[4] << 24) | ((__u32)th[5] << 16) | ((__u32)th[6] << 8) | th[7];
		p->ack_seq = ((__u32)th[8] << 24) | ((__u32)th[9] << 16) | ((__u32)th[10] << 8) | th[11];
		p->tcp_flags = th[13];
	} else if (proto == IPPROTO_UDP) {
		__u8 uh[4];
		if (skb_load(skb, l4, uh, 4) < 0)
			return -1;
		__builtin_memcpy(&p->sport, uh, 2);
		__builtin_memcpy(&p->dport, uh + 2, 2);
	} else if (proto == IPPROTO_ICMP || proto == 58 /* ICMPv6 */) {
		__u8 ic[6];
		if (skb_load(skb, l4, ic, 6) < 0)
			return -1;
		int echo = proto == IPPROTO_ICMP ? (ic[0] == 8 || ic[0] == 0) : (ic[0] == 128 || ic[0] == 129);
		p->ndisc = proto == 58 && ic[0] >= 133 && ic[0] <= 137;
		int err = proto == IPPROTO_ICMP ? (ic[0] == 3 || ic[0] == 4 || ic[0] == 11 || ic[0] == 12)
						: (ic[0] >= 1 && ic[0] <= 4);
		if (err) {
			p->related = proto == 58 ? 6 : 4;
			p->related_off = l4 + 8;
		}
		if (echo) {
			__builtin_memcpy(&p->sport, ic + 4, 2);
			p->dport = p->sport;
		}
	}
	return 0;
}

/*
 * The conntrack addresses and ports of the flow an ICMP error quotes, written straight into the
 * key (no copy of the quoted header on the stack). `pod_sent`: the quoted packet was sent by the
 * pod (the error travels to it). Returns 0 when the quoted header was readable.
 */
static __always_inline int pod_related_key(struct __sk_buff *skb, const struct pod_pkt *p, int pod_sent,
					   __u8 *local, __u8 *remote, __be16 *lport, __be16 *rport, __u8 *proto)
{
	__u32 off = p->related_off;
	__u8 b0, pr;
	__u8 *src = pod_sent ? local : remote;
	__u8 *dst = pod_sent ? remote : local;
	__be16 *sp = pod_sent ? lport : rport;
	__be16 *dp = pod_sent ? rport : lport;

	if (bpf_skb_load_bytes(skb, off, &b0, 1) < 0)
		return -1;
	if (p->related == 4) {
		__u32 a;
		if ((b0 >> 4) != 4 || (b0 & 0xf) < 5 || bpf_skb_load_bytes(skb, off + 9, &pr, 1) < 0)
			return -1;
		if (bpf_skb_load_bytes(skb, off + 12, &a, 4) < 0)
			return -1;
		pod_map_v4(src, a);
		if (bpf_skb_load_bytes(skb, off + 16, &a, 4) < 0)
			return -1;
		pod_map_v4(dst, a);
		off += (b0 & 0xf) * 4;
	} else {
		if ((b0 >> 4) != 6 || bpf_skb_load_bytes(skb, off + 6, &pr, 1) < 0)
			return -1;
		if (bpf_skb_load_bytes(skb, off + 8, src, 16) < 0 || bpf_skb_load_bytes(skb, off + 24, dst, 16) < 0)
			return -1;
		off += 40;
	}
	*proto = pr;
	*sp = *dp = 0;
	if (pr == IPPROTO_TCP || pr == IPPROTO_UDP) {
		if (bpf_skb_load_bytes(skb, off, sp, 2) < 0 || bpf_skb_load_bytes(skb, off + 2, dp, 2) < 0)
			return -1;
	} else if (pr == IPPROTO_ICMP || pr == 58) {
		if (bpf_skb_load_bytes(skb, off + 4, sp, 2) < 0) /* echo id */
			return -1;
		*dp = *sp;
	}
	return 0;
}

#endif
