/* Connection tracking: netfilter's states (NEW / ESTABLISHED / RELATED / INVALID / UNTRACKED)
 * computed from the shared `ct` map.
 *
 * Facts followed (nf_conntrack): TCP flag combinations outside netfilter's valid set are
 * INVALID (PSH/ECE/CWR ignored); without an entry a SYN is NEW, a bare ACK is NEW (loose
 * pickup), anything else (SYN-ACK, FIN, RST) is INVALID; packets in the original direction are
 * NEW until a reply was seen; ICMP echo is tracked by identifier; ICMP errors are RELATED when
 * the header they quote belongs to a tracked connection and INVALID otherwise; ICMP types that
 * cannot open a connection are INVALID, except the IPv6 ones netfilter leaves untracked (NDP,
 * MLD). Limits: no TCP window tracking; timeouts are netfilter's defaults, rounded. */
#ifndef DIFW_LIB_CT_H
#define DIFW_LIB_CT_H
#include "common.h"
#include "parse.h"

#define CTS_NEW 0
#define CTS_EST 1
#define CTS_REL 2
#define CTS_INVALID 3
#define CTS_UNTRACKED 4

#define CT_TO_TCP_SYN (120 * NSEC_PER_SEC)
#define CT_TO_TCP_SYN_RECV (60 * NSEC_PER_SEC)
#define CT_TO_TCP_EST (432000 * NSEC_PER_SEC) /* 5 days */
#define CT_TO_TCP_UNACK (300 * NSEC_PER_SEC)  /* picked up mid-stream, no reply yet */
#define CT_TO_TCP_FIN (120 * NSEC_PER_SEC)
#define CT_TO_TCP_CLOSE (10 * NSEC_PER_SEC)
#define CT_TO_UDP (30 * NSEC_PER_SEC)
#define CT_TO_UDP_REPLIED (120 * NSEC_PER_SEC)
#define CT_TO_ICMP (30 * NSEC_PER_SEC)
#define CT_TO_GENERIC (600 * NSEC_PER_SEC)

struct ct_ctx {
	struct ct_key key;
	__u8 from_a;     /* the packet travels from endpoint A to B */
	__u8 found;      /* a live entry exists */
	__u8 trackable;  /* an accepted NEW packet of this kind opens an entry */
	__u8 pad;
};

/* Canonical key: A is the lower (address, port) endpoint. */
DIFW_INLINE void ct_make_key(struct ct_key *k, __u8 *from_a, __u8 family, __u8 proto,
			     const __u32 *s, const __u32 *d, __be16 sp, __be16 dp)
{
	int cmp = 0;
#pragma unroll
	for (int w = 0; w < 4; w++) {
		if (cmp == 0 && s[w] != d[w])
			cmp = bpf_ntohl(s[w]) < bpf_ntohl(d[w]) ? -1 : 1;
	}
	if (cmp == 0)
		cmp = bpf_ntohs(sp) < bpf_ntohs(dp) ? -1 : (sp == dp ? 0 : 1);
	k->family = family;
	k->proto = proto;
	k->pad = 0;
	__u32 *a = (__u32 *)k->addr_a, *b = (__u32 *)k->addr_b;
	if (cmp <= 0) {
		*from_a = 1;
		k->port_a = sp;
		k->port_b = dp;
#pragma unroll
		for (int w = 0; w < 4; w++) {
			a[w] = s[w];
			b[w] = d[w];
		}
	} else {
		*from_a = 0;
		k->port_a = dp;
		k->port_b = sp;
#pragma unroll
		for (int w = 0; w < 4; w++) {
			a[w] = d[w];
			b[w] = s[w];
		}
	}
}

DIFW_INLINE struct ct_entry *ct_find(struct ct_key *k, __u64 now)
{
	struct ct_entry *e = bpf_map_lookup_elem(&fw_ct, k);
	if (e && e->expires_ns > now)
		return e;
	return 0;
}

DIFW_INLINE int is_icmp_error(__u8 family, __u8 type)
{
	if (family == 4)
		return type == 3 || type == 4 || type == 5 || type == 11 || type == 12;
	return type < 128;
}

/* RELATED when the quoted header of an ICMP error belongs to a live connection. */
static __noinline int ct_related(const struct pkt *p, void *data, void *data_end, __u64 now)
{
	__u32 off = p->l4off + 8;
	__u32 s[4] = {}, d[4] = {};
	__u8 proto;
	__u32 l4;
	if (off > 1024)
		return CTS_INVALID;
	if (p->family == 4) {
		struct ip4h *ip = data + off;
		if ((void *)(ip + 1) > data_end)
			return CTS_INVALID;
		__u32 ihl = (ip->vihl & 0xf) * 4;
		if (ihl < 20)
			return CTS_INVALID;
		proto = ip->proto;
		s[0] = ip->saddr;
		d[0] = ip->daddr;
		l4 = off + ihl;
	} else {
		struct ip6h *ip = data + off;
		if ((void *)(ip + 1) > data_end)
			return CTS_INVALID;
		proto = ip->nexthdr;
		__builtin_memcpy(s, ip->saddr, 16);
		__builtin_memcpy(d, ip->daddr, 16);
		l4 = off + sizeof(*ip);
	}
	if (l4 > 1200)
		return CTS_INVALID;
	struct icmph *in = data + l4; /* the first 8 bytes: ports, or ICMP type/code/csum/id */
	if ((void *)(in + 1) > data_end)
		return CTS_INVALID;
	__be16 sp = 0, dp = 0;
	if (proto == IPPROTO_TCP || proto == IPPROTO_UDP) {
		struct udph *u = (void *)in;
		sp = u->source;
		dp = u->dest;
	} else if (proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6) {
		if (!(in->type == 8 || in->type == 0 || in->type == 128 || in->type == 129))
			return CTS_INVALID;
		sp = dp = in->id;
	}
	struct ct_key k;
	__u8 from_a;
	ct_make_key(&k, &from_a, p->family, proto, s, d, sp, dp);
	return ct_find(&k, now) ? CTS_REL : CTS_INVALID;
}

DIFW_INLINE int ct_state_of(struct ct_ctx *c, struct ct_entry *e)
{
	__u8 orig_a = (e->flags & CT_F_ORIG_A) ? 1 : 0;
	if (c->from_a != orig_a || (e->flags & CT_F_SEEN_REPLY))
		return CTS_EST;
	return CTS_NEW;
}

/* Classify the packet; fills `c` for ct_confirm / ct_refresh, and *entry with the live entry of
 * its connection, if any (NULL otherwise). */
DIFW_INLINE int ct_classify_entry(const struct pkt *p, struct ct_ctx *c, void *data, void *data_end, __u64 now,
				  struct ct_entry **entry)
{
	*entry = 0;
	__be16 sp = p->sport, dp = p->dport;
	__u8 proto = p->proto;
	int icmp = (p->family == 4 && proto == IPPROTO_ICMP) || (p->family == 6 && proto == IPPROTO_ICMPV6);
	c->trackable = 1;
	if (icmp) {
		__u8 t = p->icmp_type;
		if (is_icmp_error(p->family, t))
			return ct_related(p, data, data_end, now);
		if (p->family == 4) {
			if (t == 13 || t == 15 || t == 17) {
				c->trackable = 0;
				return CTS_NEW;
			}
			if (t != 8 && t != 0)
				return CTS_INVALID;
		} else {
			if (t == 130 || t == 131 || t == 132 || t == 133 || t == 134 || t == 135 || t == 136 || t == 143)
				return CTS_UNTRACKED;
			if (t == 139) {
				c->trackable = 0;
				return CTS_NEW;
			}
			if (t != 128 && t != 129)
				return CTS_INVALID;
		}
		sp = dp = p->icmp_id;
	}
	ct_make_key(&c->key, &c->from_a, p->family, proto, p->src, p->dst, sp, dp);
	struct ct_entry *e = ct_find(&c->key, now);
	c->found = e ? 1 : 0;
	*entry = e;

	if (proto == IPPROTO_TCP) {
		__u8 f = p->tcp_flags & (TCPF_FIN | TCPF_SYN | TCPF_RST | TCPF_ACK | TCPF_URG);
		f &= ~TCPF_URG;
		if (!(f == TCPF_SYN || f == (TCPF_SYN | TCPF_ACK) || f == TCPF_RST || f == (TCPF_RST | TCPF_ACK) ||
		      f == (TCPF_FIN | TCPF_ACK) || f == TCPF_ACK))
			return CTS_INVALID;
		if ((p->tcp_flags & TCPF_URG) && (f & TCPF_RST))
			return CTS_INVALID;
		if (f == TCPF_SYN)
			return CTS_NEW; /* a SYN always (re)opens: evaluated against the rules */
		if (e)
			return ct_state_of(c, e);
		if (f == TCPF_ACK)
			return CTS_NEW; /* loose pickup of a connection older than the firewall */
		return CTS_INVALID;
	}
	if (icmp) {
		__u8 reply = p->icmp_type == 0 || p->icmp_type == 129;
		if (reply) {
			if (e && c->from_a != ((e->flags & CT_F_ORIG_A) ? 1 : 0))
				return CTS_EST;
			return CTS_INVALID;
		}
	}
	if (e)
		return ct_state_of(c, e);
	return CTS_NEW;
}

DIFW_INLINE int ct_classify(const struct pkt *p, struct ct_ctx *c, void *data, void *data_end, __u64 now)
{
	struct ct_entry *e;

	return ct_classify_entry(p, c, data, data_end, now, &e);
}

/* An accepted NEW packet opens (or re-opens) its connection; `e`: its live entry, when the
 * caller already has it. */
DIFW_INLINE void ct_confirm_entry(const struct pkt *p, struct ct_ctx *c, __u64 now, struct ct_entry *e)
{
	if (!c->trackable || !p->has_l4)
		return;
	struct ct_entry n = {};
	n.flags = c->from_a ? CT_F_ORIG_A : 0;
	n.state = CT_NEW;
	if (p->proto == IPPROTO_TCP) {
		if (p->tcp_flags & TCPF_SYN) {
			n.expires_ns = now + CT_TO_TCP_SYN;
		} else {
			n.state = CT_EST;
			n.expires_ns = now + CT_TO_TCP_UNACK;
		}
	} else if (p->proto == IPPROTO_UDP) {
		n.expires_ns = now + CT_TO_UDP;
	} else if ((p->family == 4 && p->proto == IPPROTO_ICMP) || (p->family == 6 && p->proto == IPPROTO_ICMPV6)) {
		if (p->icmp_type != 8 && p->icmp_type != 128)
			return;
		n.expires_ns = now + CT_TO_ICMP;
	} else {
		n.expires_ns = now + CT_TO_GENERIC;
	}
	/* A live entry (SYN retransmit, re-opened port) is rewritten in place: an LRU update
	 * allocates a node and frees the old one, several times the cost of a lookup. */
	if (!e && c->found)
		e = ct_find(&c->key, 0);
	if (e) {
		/* Skip the write when nothing changes by more than a second (a one-way stream's
		 * datagrams re-open their entry one after the other): the line stays shared. */
		if (e->state != n.state || e->flags != n.flags || n.expires_ns > e->expires_ns + NSEC_PER_SEC ||
		    n.expires_ns < e->expires_ns) {
			e->state = n.state;
			e->flags = n.flags;
			e->expires_ns = n.expires_ns;
		}
		return;
	}
	if (bpf_map_update_elem(&fw_ct, &c->key, &n, BPF_ANY) == 0)
		stat_inc(FW_STAT_CT_NEW);
}

DIFW_INLINE void ct_confirm(const struct pkt *p, struct ct_ctx *c, __u64 now)
{
	ct_confirm_entry(p, c, now, 0);
}

/* An outgoing connection this host rejected with a RST it built itself: a 2-second CLOSE entry
 * lets that RST through a generic-mode XDP program when it is redirected to ingress (native XDP
 * never sees it). Out of line: keeps tc_egress's frame small. */
#define CT_TO_REJECTED (2 * NSEC_PER_SEC)
static __noinline __attribute__((unused)) int ct_mark_rejected(struct ct_ctx *c, __u64 now)
{
	struct ct_entry n = {};
	n.expires_ns = now + CT_TO_REJECTED;
	n.state = CT_CLOSE;
	n.flags = c->from_a ? CT_F_ORIG_A : 0;
	return bpf_map_update_elem(&fw_ct, &c->key, &n, BPF_ANY);
}

/* An ESTABLISHED packet advances its connection and pushes the deadline out. Writes are skipped
 * when nothing changes by more than a second, to keep the entry's cache line shared. */
DIFW_INLINE void ct_refresh_entry(const struct pkt *p, struct ct_ctx *c, struct ct_entry *e, __u64 now)
{
	__u8 orig_a = (e->flags & CT_F_ORIG_A) ? 1 : 0;
	__u8 reply = c->from_a != orig_a;
	__u8 flags = e->flags | (reply ? CT_F_SEEN_REPLY : 0);
	__u8 state = e->state;
	__u64 to;
	if (p->proto == IPPROTO_TCP) {
		__u8 f = p->tcp_flags;
		if (f & TCPF_RST) {
			state = CT_CLOSE;
		} else if (f & TCPF_FIN) {
			if (state != CT_CLOSE)
				state = CT_FIN;
		} else if ((f & TCPF_SYN) && (f & TCPF_ACK) && reply) {
			if (state == CT_NEW)
				state = CT_SYN_RECV;
		} else if ((flags & CT_F_SEEN_REPLY) && (state == CT_NEW || state == CT_SYN_RECV) && !reply) {
			state = CT_EST;
		} else if ((flags & CT_F_SEEN_REPLY) && state == CT_EST) {
			state = CT_EST;
		}
		switch (state) {
		case CT_NEW: to = CT_TO_TCP_SYN; break;
		case CT_SYN_RECV: to = CT_TO_TCP_SYN_RECV; break;
		case CT_FIN: to = CT_TO_TCP_FIN; break;
		case CT_CLOSE: to = CT_TO_TCP_CLOSE; break;
		default: to = (flags & CT_F_SEEN_REPLY) ? CT_TO_TCP_EST : CT_TO_TCP_UNACK; break;
		}
	} else if (p->proto == IPPROTO_UDP) {
		to = (flags & CT_F_SEEN_REPLY) ? CT_TO_UDP_REPLIED : CT_TO_UDP;
		state = (flags & CT_F_SEEN_REPLY) ? CT_EST : CT_NEW;
	} else if (p->proto == IPPROTO_ICMP || p->proto == IPPROTO_ICMPV6) {
		to = CT_TO_ICMP;
	} else {
		to = CT_TO_GENERIC;
	}
	__u64 exp = now + to;
	if (state != e->state || flags != e->flags || exp > e->expires_ns + NSEC_PER_SEC || exp < e->expires_ns) {
		e->state = state;
		e->flags = flags;
		e->expires_ns = exp;
	}
}
DIFW_INLINE void ct_refresh(const struct pkt *p, struct ct_ctx *c, __u64 now)
{
	struct ct_entry *e = ct_find(&c->key, now);

	if (e)
		ct_refresh_entry(p, c, e, now);
}
/* Remember that the rule set `serial` accepted this NEW flow, coming in on `iif`, with no side
 * effect (ingress). `e`: the flow's entry when the classification found one (ct_confirm
 * re-opened it in place), else NULL (the entry ct_confirm just made is looked up). */
DIFW_INLINE void ct_memo_accept(struct ct_ctx *c, struct ct_entry *e, __u32 serial, __u32 iif, __u64 now)
{
	if (!e)
		e = ct_find(&c->key, now);

	if (e && (e->ok_serial != serial || e->ok_iif != (__u16)iif)) {
		e->ok_iif = (__u16)iif;
		e->ok_serial = serial;
	}
}
#endif
