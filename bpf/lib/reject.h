/* Build the answer to a rejected packet in place (TC only) and let the caller redirect it:
 *   - TCP RST per RFC 793: if the offending segment had ACK, seq = its ack and no ACK;
 *     otherwise seq 0, ack = its seq + payload + SYN + FIN, flags RST|ACK;
 *   - ICMP port unreachable (type 3 code 3) / ICMPv6 port unreachable (type 1 code 4) quoting
 *     the original IP header (with options / extension headers) and 8 bytes of its payload.
 * Addresses, ports and MACs are swapped; checksums are computed from scratch. The reply's
 * source is the original destination (for forwarded packets too: a simplification).
 * Returns 0 on success, <0 when the packet cannot be rebuilt (the caller drops it). */
#ifndef DIFW_LIB_REJECT_H
#define DIFW_LIB_REJECT_H
#include "common.h"
#include "maps/scratch.h"

/* skb->mark of a reply tc_egress built for a packet this host sent and redirected to the
 * interface's ingress: the ingress programs let it in without judging it, and clear it. */
#define FW_REPLY_MARK 0x0d1f0e5cu

#define RJ_QMAX 128 /* most bytes quoted (IPv6 header + extension headers + 8) */

struct ip4_pseudo {
	__be32 saddr;
	__be32 daddr;
	__u8 zero;
	__u8 proto;
	__be16 len;
};

struct ip6_pseudo {
	__u8 saddr[16];
	__u8 daddr[16];
	__be32 len;
	__u8 zero[3];
	__u8 next;
};

struct rst4 {
	struct ip4h ip;
	struct tcph tcp;
};

struct rst6 {
	struct ip6h ip;
	struct tcph tcp;
};

struct icmp4_reply {
	struct ip4h ip;
	struct icmph icmp;
};

struct icmp6_reply {
	struct ip6h ip;
	struct icmph icmp;
};

DIFW_INLINE int rj_write(struct __sk_buff *skb, __u8 *eth, void *hdr, __u32 hlen, __u32 total)
{
	if (bpf_skb_change_tail(skb, total, 0))
		return -1;
	if (bpf_skb_store_bytes(skb, 0, eth, ETH_HLEN, BPF_F_RECOMPUTE_CSUM))
		return -1;
	if (hlen > 64 || hlen == 0)
		return -1;
	if (bpf_skb_store_bytes(skb, ETH_HLEN, hdr, hlen, BPF_F_RECOMPUTE_CSUM))
		return -1;
	return 0;
}

DIFW_INLINE __be32 rst_fill(struct tcph *t, const struct tcph *ot, __u32 payload)
{
	__builtin_memset(t, 0, sizeof(*t));
	t->source = ot->dest;
	t->dest = ot->source;
	t->doff_res = 5 << 4;
	if (ot->flags & TCPF_ACK) {
		t->seq = ot->ack_seq;
		t->flags = TCPF_RST;
	} else {
		__u32 seglen = payload + ((ot->flags & TCPF_SYN) ? 1 : 0) + ((ot->flags & TCPF_FIN) ? 1 : 0);
		t->ack_seq = bpf_htonl(bpf_ntohl(ot->seq) + seglen);
		t->flags = TCPF_RST | TCPF_ACK;
	}
	return 0;
}

DIFW_INLINE int build_rst(struct __sk_buff *skb, __u8 *eth, __u8 family, __u32 l4off)
{
	struct tcph ot;
	if (l4off > 1024 || bpf_skb_load_bytes(skb, l4off, &ot, sizeof(ot)))
		return -1;
	__u32 doff = (ot.doff_res >> 4) * 4;
	if (family == 4) {
		struct ip4h oip;
		if (bpf_skb_load_bytes(skb, ETH_HLEN, &oip, sizeof(oip)))
			return -1;
		__u32 tot = bpf_ntohs(oip.tot_len);
		__u32 hl = l4off - ETH_HLEN + doff;
		struct rst4 r = {};
		r.ip.vihl = 0x45;
		r.ip.tot_len = bpf_htons(sizeof(r));
		r.ip.frag_off = bpf_htons(0x4000);
		r.ip.ttl = 64;
		r.ip.proto = IPPROTO_TCP;
		r.ip.saddr = oip.daddr;
		r.ip.daddr = oip.saddr;
		r.ip.check = csum_fold(bpf_csum_diff(0, 0, (__be32 *)&r.ip, sizeof(r.ip), 0));
		rst_fill(&r.tcp, &ot, tot > hl ? tot - hl : 0);
		struct ip4_pseudo ph = {.saddr = r.ip.saddr, .daddr = r.ip.daddr, .proto = IPPROTO_TCP, .len = bpf_htons(sizeof(r.tcp))};
		__s64 s = bpf_csum_diff(0, 0, (__be32 *)&ph, sizeof(ph), 0);
		s = bpf_csum_diff(0, 0, (__be32 *)&r.tcp, sizeof(r.tcp), (__u32)s);
		r.tcp.check = csum_fold((__u32)s);
		return rj_write(skb, eth, &r, sizeof(r), ETH_HLEN + sizeof(r));
	}
	struct ip6h oip;
	if (bpf_skb_load_bytes(skb, ETH_HLEN, &oip, sizeof(oip)))
		return -1;
	__u32 tot = sizeof(oip) + bpf_ntohs(oip.plen);
	__u32 hl = l4off - ETH_HLEN + doff;
	struct rst6 r = {};
	r.ip.vtcfl = bpf_htonl(6 << 28);
	r.ip.plen = bpf_htons(sizeof(r.tcp));
	r.ip.nexthdr = IPPROTO_TCP;
	r.ip.hlim = 64;
	__builtin_memcpy(r.ip.saddr, oip.daddr, 16);
	__builtin_memcpy(r.ip.daddr, oip.saddr, 16);
	rst_fill(&r.tcp, &ot, tot > hl ? tot - hl : 0);
	struct ip6_pseudo ph = {.len = bpf_htonl(sizeof(r.tcp)), .next = IPPROTO_TCP};
	__builtin_memcpy(ph.saddr, r.ip.saddr, 16);
	__builtin_memcpy(ph.daddr, r.ip.daddr, 16);
	__s64 s = bpf_csum_diff(0, 0, (__be32 *)&ph, sizeof(ph), 0);
	s = bpf_csum_diff(0, 0, (__be32 *)&r.tcp, sizeof(r.tcp), (__u32)s);
	r.tcp.check = csum_fold((__u32)s);
	return rj_write(skb, eth, &r, sizeof(r), ETH_HLEN + sizeof(r));
}

DIFW_INLINE int build_icmp(struct __sk_buff *skb, __u8 *eth, __u8 family, __u32 l4off)
{
	__u32 zero = 0;
	struct fw_scratch *sc = bpf_map_lookup_elem(&fw_scratch, &zero);
	if (!sc)
		return -1;
	__u8 *q = sc->buf;
	__builtin_memset(q, 0, RJ_QMAX);
	__u32 frame = skb->len;
	if (frame <= ETH_HLEN || l4off > 1024)
		return -1;
	__u32 qlen = l4off - ETH_HLEN + 8;
	if (qlen > frame - ETH_HLEN)
		qlen = frame - ETH_HLEN;
	if (qlen > RJ_QMAX)
		qlen = RJ_QMAX;
	if (qlen < 20)
		return -1;
	barrier_var(qlen);
	qlen &= 0xff;
	if (qlen > RJ_QMAX || qlen < 20)
		return -1;
	if (bpf_skb_load_bytes(skb, ETH_HLEN, q, qlen))
		return -1;
	__u32 q4 = (qlen + 3) & ~3u; /* zero padding does not change the ones' complement sum */
	if (q4 > RJ_QMAX)
		return -1;
	if (family == 4) {
		struct ip4h *oip = (void *)q;
		struct icmp4_reply r = {};
		r.ip.vihl = 0x45;
		r.ip.tot_len = bpf_htons(sizeof(r) + qlen);
		r.ip.ttl = 64;
		r.ip.proto = IPPROTO_ICMP;
		r.ip.saddr = oip->daddr;
		r.ip.daddr = oip->saddr;
		r.ip.check = csum_fold(bpf_csum_diff(0, 0, (__be32 *)&r.ip, sizeof(r.ip), 0));
		r.icmp.type = 3;
		r.icmp.code = 3;
		__s64 s = bpf_csum_diff(0, 0, (__be32 *)&r.icmp, sizeof(r.icmp), 0);
		s = bpf_csum_diff(0, 0, (__be32 *)q, q4, (__u32)s);
		r.icmp.check = csum_fold((__u32)s);
		if (rj_write(skb, eth, &r, sizeof(r), ETH_HLEN + sizeof(r) + qlen))
			return -1;
		return bpf_skb_store_bytes(skb, ETH_HLEN + sizeof(r), q, qlen, BPF_F_RECOMPUTE_CSUM) ? -1 : 0;
	}
	struct ip6h *oip = (void *)q;
	struct icmp6_reply r = {};
	r.ip.vtcfl = bpf_htonl(6 << 28);
	r.ip.plen = bpf_htons(sizeof(r.icmp) + qlen);
	r.ip.nexthdr = IPPROTO_ICMPV6;
	r.ip.hlim = 64;
	__builtin_memcpy(r.ip.saddr, oip->daddr, 16);
	__builtin_memcpy(r.ip.daddr, oip->saddr, 16);
	r.icmp.type = 1;
	r.icmp.code = 4;
	struct ip6_pseudo ph = {.len = bpf_htonl(sizeof(r.icmp) + qlen), .next = IPPROTO_ICMPV6};
	__builtin_memcpy(ph.saddr, r.ip.saddr, 16);
	__builtin_memcpy(ph.daddr, r.ip.daddr, 16);
	__s64 s = bpf_csum_diff(0, 0, (__be32 *)&ph, sizeof(ph), 0);
	s = bpf_csum_diff(0, 0, (__be32 *)&r.icmp, sizeof(r.icmp), (__u32)s);
	s = bpf_csum_diff(0, 0, (__be32 *)q, q4, (__u32)s);
	r.icmp.check = csum_fold((__u32)s);
	if (rj_write(skb, eth, &r, sizeof(r), ETH_HLEN + sizeof(r) + qlen))
		return -1;
	return bpf_skb_store_bytes(skb, ETH_HLEN + sizeof(r), q, qlen, BPF_F_RECOMPUTE_CSUM) ? -1 : 0;
}

/* Rewrite the frame in `skb` into the reply; the caller redirects it. */
static __noinline int build_reply(struct __sk_buff *skb, __u8 family, __u32 l4off, __u8 reply)
{
	__u8 eth[ETH_HLEN], mac[6];
	if (bpf_skb_load_bytes(skb, 0, eth, ETH_HLEN))
		return -1;
	__builtin_memcpy(mac, eth, 6);
	__builtin_memcpy(eth, eth + 6, 6);
	__builtin_memcpy(eth + 6, mac, 6);
	if (reply == FW_REPLY_RST)
		return build_rst(skb, eth, family, l4off);
	return build_icmp(skb, eth, family, l4off);
}
#endif
