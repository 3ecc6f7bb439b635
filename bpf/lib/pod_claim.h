/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The peer identity of a TCP handshake packet: the verified claim (bpf/lib/claim.h), else world.
 * Never the address-derived identity: in identity mode an address carries no authority for TCP.
 * Without claim.h in the tree (a build of the policy datapath alone) every TCP peer is world.
 */
#ifndef DIFW_LIB_POD_CLAIM_H
#define DIFW_LIB_POD_CLAIM_H

#define POD_ID_UNKNOWN 0
#define POD_ID_HOST 1
#define POD_ID_WORLD 2
#define POD_CLAIM_OK 1 /* enum claim_result CLAIM_OK */

#if __has_include("lib/claim.h")
#include "lib/claim.h"
#define POD_HAVE_CLAIM 1
#endif

/* *res receives the enum claim_result (0 = none). `pending`: p is the SYN-ACK of a tracked
 * attempt whose SYN had ISN `syn_isn` (bound to it); otherwise a SYN (the replay cache). */
static __always_inline __u32 peer_identity_tcp(struct __sk_buff *skb, const struct pod_pkt *p, int pending, __u32 syn_isn,
					       __u8 *res)
{
#ifdef POD_HAVE_CLAIM
	struct claim_ctx c = {};
	__u32 id = 0;

	c.family = p->family == 6 ? CLAIM_AF_INET6 : CLAIM_AF_INET;
	c.is_synack = (p->tcp_flags & (POD_TH_SYN | POD_TH_ACK)) == (POD_TH_SYN | POD_TH_ACK);
	if (p->family == 6) {
		__builtin_memcpy(c.saddr, p->saddr, 16);
		__builtin_memcpy(c.daddr, p->daddr, 16);
	} else {
		__builtin_memcpy(&c.saddr[0], p->saddr + 12, 4);
		__builtin_memcpy(&c.daddr[0], p->daddr + 12, 4);
	}
	c.sport = p->sport;
	c.dport = p->dport;
	c.seq = p->seq;
	c.ack_seq = p->ack_seq;
	c.l4_off = p->l4_off;
	enum claim_result r = pending ? claim_verify_pending(skb, &c, syn_isn, &id) : claim_verify(skb, &c, &id);
	*res = (__u8)r;
	if (r == CLAIM_OK && id > POD_ID_WORLD)
		return id;
#else
	*res = 0;
#endif
	return POD_ID_WORLD;
}

#endif
