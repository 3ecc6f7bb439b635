/* Packet parsing, once per packet, into struct pkt. Works on direct packet pointers, so XDP and
 * TC share it. Limits: no VLAN tags (tagged frames are not IP here and pass: the VLAN device
 * has its own attachment); at most FW_MAX_EXTHDR IPv6 extension headers. Anything truncated or
 * inconsistent is PARSE_BAD, which the callers treat as INVALID (dropped on input). */
#ifndef DIFW_LIB_PARSE_H
#define DIFW_LIB_PARSE_H
#include "common.h"

#define PARSE_OK 0
#define PARSE_NOT_IP 1
#define PARSE_BAD 2

#define FRAG_NONE 0
#define FRAG_FIRST 1
#define FRAG_LATER 2

#define FW_MAX_EXTHDR 6

struct pkt {
	__u32 src[4];      /* network order words; IPv4 in src[0] */
	__u32 dst[4];
	__be16 sport;      /* TCP/UDP ports; 0 otherwise */
	__be16 dport;
	__be32 seq;        /* TCP */
	__be32 ack;
	__be32 frag_id;
	__u16 l3off;
	__u16 l4off;
	__u16 ip_len;      /* L3 total length */
	__u16 l4len;       /* L4 bytes per the IP header */
	__u16 payload;     /* TCP payload bytes */
	__be16 icmp_id;
	__u8 family;       /* 4 or 6 */
	__u8 proto;
	__u8 tcp_flags;
	__u8 icmp_type;
	__u8 icmp_code;
	__u8 ttl;
	__u8 frag;         /* FRAG_* */
	__u8 rh0;          /* IPv6 routing header type 0 present */
	__u8 has_l4;       /* L4 header parsed (not a later fragment) */
	__u8 pad[3];
};

DIFW_INLINE int parse_l4(struct pkt *p, void *data, void *data_end)
{
	__u32 off = p->l4off;
	if (off > 1024)
		return PARSE_BAD;
	void *l4 = data + off;

	if (p->frag == FRAG_LATER)
		return PARSE_OK;

	switch (p->proto) {
	case IPPROTO_TCP: {
		struct tcph *t = l4;
		if ((void *)(t + 1) > data_end || p->l4len < sizeof(*t))
			return PARSE_BAD;
		__u32 doff = (t->doff_res >> 4) * 4;
		if (doff < sizeof(*t) || doff > p->l4len)
			return PARSE_BAD;
		p->sport = t->source;
		p->dport = t->dest;
		p->seq = t->seq;
		p->ack = t->ack_seq;
		p->tcp_flags = t->flags;
		p->payload = p->l4len - doff;
		break;
	}
	case IPPROTO_UDP: {
		struct udph *u = l4;
		if ((void *)(u + 1) > data_end || p->l4len < sizeof(*u))
			return PARSE_BAD;
		__u16 ulen = bpf_ntohs(u->len);
		/* A first fragment carries the whole datagram's length: only check unfragmented. */
		if (p->frag == FRAG_NONE && (ulen < sizeof(*u) || ulen > p->l4len))
			return PARSE_BAD;
		p->sport = u->source;
		p->dport = u->dest;
		break;
	}
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6: {
		struct icmph *ic = l4;
		if ((void *)(ic + 1) > data_end || p->l4len < sizeof(*ic))
			return PARSE_BAD;
		if ((p->proto == IPPROTO_ICMP) != (p->family == 4))
			break; /* ICMP in IPv6 / ICMPv6 in IPv4: an unknown protocol, like netfilter */
		p->icmp_type = ic->type;
		p->icmp_code = ic->code;
		p->icmp_id = ic->id;
		break;
	}
	default:
		break;
	}
	p->has_l4 = 1;
	return PARSE_OK;
}

DIFW_INLINE int parse_ipv4(struct pkt *p, void *data, void *data_end, __u32 frame_len)
{
	struct ip4h *ip = data + ETH_HLEN;
	if ((void *)(ip + 1) > data_end)
		return PARSE_BAD;
	if ((ip->vihl >> 4) != 4)
		return PARSE_BAD;
	__u32 ihl = (ip->vihl & 0xf) * 4;
	__u32 tot = bpf_ntohs(ip->tot_len);
	if (ihl < sizeof(*ip) || tot < ihl)
		return PARSE_BAD;
	/* Truncated: the frame must hold the whole datagram (trailing padding is fine). */
	if (ETH_HLEN + tot > frame_len)
		return PARSE_BAD;
	p->family = 4;
	p->proto = ip->proto;
	p->ttl = ip->ttl;
	p->src[0] = ip->saddr;
	p->dst[0] = ip->daddr;
	p->l3off = ETH_HLEN;
	p->l4off = ETH_HLEN + ihl;
	p->ip_len = tot;
	p->l4len = tot - ihl;
	__u16 fo = bpf_ntohs(ip->frag_off);
	if (fo & 0x1fff)
		p->frag = FRAG_LATER;
	else if (fo & 0x2000)
		p->frag = FRAG_FIRST;
	p->frag_id = ip->id;
	return parse_l4(p, data, data_end);
}

struct ip6_ext {
	__u8 nexthdr;
	__u8 hdrlen;
	__u8 b2;       /* routing: routing type; fragment: offset high byte */
	__u8 b3;       /* fragment: offset low bits + M */
	__be32 w1;     /* fragment: identification */
};

DIFW_INLINE int parse_ipv6(struct pkt *p, void *data, void *data_end, __u32 frame_len)
{
	struct ip6h *ip = data + ETH_HLEN;
	if ((void *)(ip + 1) > data_end)
		return PARSE_BAD;
	if ((bpf_ntohl(ip->vtcfl) >> 28) != 6)
		return PARSE_BAD;
	__u32 plen = bpf_ntohs(ip->plen);
	if (plen == 0) /* jumbograms are not supported: treat as malformed */
		return PARSE_BAD;
	if (ETH_HLEN + sizeof(*ip) + plen > frame_len)
		return PARSE_BAD;
	p->family = 6;
	p->ttl = ip->hlim;
	__builtin_memcpy(p->src, ip->saddr, 16);
	__builtin_memcpy(p->dst, ip->daddr, 16);
	p->l3off = ETH_HLEN;
	p->ip_len = sizeof(*ip) + plen;

	__u8 nh = ip->nexthdr;
	__u32 off = ETH_HLEN + sizeof(*ip);
	__u32 end = ETH_HLEN + sizeof(*ip) + plen;
#pragma unroll
	for (int i = 0; i < FW_MAX_EXTHDR; i++) {
		if (nh != 0 && nh != 43 && nh != 44 && nh != 60 && nh != 51)
			break;
		if (off > 512)
			return PARSE_BAD;
		struct ip6_ext *e = data + off;
		if ((void *)(e + 1) > data_end || off + 8 > end)
			return PARSE_BAD;
		__u32 len;
		if (nh == 44) {
			__u16 fo = ((__u16)e->b2 << 8) | e->b3;
			if (fo & 0xfff8)
				p->frag = FRAG_LATER;
			else if (fo & 1)
				p->frag = FRAG_FIRST;
			p->frag_id = e->w1;
			len = 8;
		} else if (nh == 51) {
			len = ((__u32)e->hdrlen + 2) * 4;
		} else {
			if (nh == 43 && e->b2 == 0)
				p->rh0 = 1;
			len = ((__u32)e->hdrlen + 1) * 8;
		}
		nh = e->nexthdr;
		off += len;
		if (off > end)
			return PARSE_BAD;
		if (p->frag == FRAG_LATER)
			break;
	}
	if (nh == 0 || nh == 43 || nh == 44 || nh == 60 || nh == 51) {
		if (p->frag != FRAG_LATER)
			return PARSE_BAD; /* more extension headers than we walk */
	}
	p->proto = nh;
	p->l4off = off;
	p->l4len = end - off;
	return parse_l4(p, data, data_end);
}

/* Returns PARSE_*; on PARSE_OK `p` is filled. `p` must be zeroed by the caller. `frame_len` is
 * the whole frame (skb->len in TC, where only the headers need to be linear). */
DIFW_INLINE int parse_packet(struct pkt *p, void *data, void *data_end, __u32 frame_len)
{
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > data_end)
		return PARSE_NOT_IP; /* not even an Ethernet header: let the stack discard it */
	if (eth->h_proto == bpf_htons(ETH_P_IP))
		return parse_ipv4(p, data, data_end, frame_len);
	if (eth->h_proto == bpf_htons(ETH_P_IPV6))
		return parse_ipv6(p, data, data_end, frame_len);
	return PARSE_NOT_IP;
}
#endif
