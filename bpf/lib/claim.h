/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Workload identity claims on the wire (docs/wire-format.md).
 *
 * The sender (bpf/sockops_claim.bpf.c) stamps every SYN and SYN-ACK with a 20-byte TCP option
 * (kind 254, RFC 6994 ExID CLAIM_EXID) carrying {version, epoch, sending node, identity, MAC}.
 * The receiver's policy TC program calls claim_verify() on SYN / SYN-ACK packets before they
 * reach a socket. The MAC is SipHash-2-4 under the pairwise node key over a 32-byte (IPv4) or
 * 56-byte (IPv6) message (claim_mac below): identity, node, epoch, version, direction, both
 * ports, the ISN, the peer's ISN (SYN-ACK) and both addresses.
 *
 * Include after vmlinux.h and bpf_helpers.h. Assumes a little-endian machine (x86_64, arm64):
 * MAC message words are composed from in-memory network-order address words.
 */
#ifndef DIFW_LIB_CLAIM_H
#define DIFW_LIB_CLAIM_H

#include <bpf/bpf_endian.h>
#include "lib/siphash.h"
#include "lib/skb_load.h"
#include "maps/claim.h"
#ifndef CLAIM_SENDER_ONLY
#include "maps/claim_verify_memo.h"
#include "maps/claim_scratch.h"
#endif

#define CLAIM_TCPOPT_EXP 254       /* RFC 4727 experimental option kind */
#define CLAIM_EXID 0xD1F0          /* RFC 6994 ExID (not IANA-registered; difw-private) */
#define CLAIM_OPT_LEN 20           /* kind, len, ExID(2), ver, epoch, node(2), identity(4), MAC(8) */
#define CLAIM_VERSION 1
#define CLAIM_MAC_WORDS 7          /* 56-byte MAC message (IPv6 addresses) */
#define CLAIM_MAC_WORDS_V4 4       /* 32-byte MAC message (both addresses IPv4) */

#define CLAIM_AF_INET 2
#define CLAIM_AF_INET6 10

/* Claim option as it sits in the TCP header. Multi-byte fields network order except the MAC. */
struct claim_opt {
	__u8 kind;
	__u8 len;
	__be16 exid;
	__u8 version;
	__u8 epoch;
	__be16 node_id;
	__be32 identity;
	__u8 mac[8]; /* SipHash-2-4 output, little endian */
} __attribute__((packed));

/*
 * Receiver-side packet context, filled by the caller (the policy program has parsed the IP
 * header already). For IPv4, saddr[0]/daddr[0] hold the address (network order) and the other
 * words are ignored. For IPv6 all four words, network order. l4_off = offset of the TCP header
 * from the start of the skb data (the Ethernet header for a TC program on a veth).
 * sport/dport/seq/ack_seq/is_synack are informational: claim_verify reads the TCP header itself
 * so that what it authenticates is exactly what the socket will see.
 */
struct claim_ctx {
	__u8 family; /* CLAIM_AF_INET or CLAIM_AF_INET6 */
	__u8 is_synack;
	__u32 saddr[4], daddr[4];
	__be16 sport, dport;
	__u32 seq, ack_seq; /* host order */
	__u32 l4_off;
	__u32 expect_peer_isn; /* CLAIM_V_PENDING: the ISN of the SYN this SYN-ACK must answer */
};

enum claim_result {
	CLAIM_NONE = 0,         /* no claim option (or not a SYN / SYN-ACK) */
	CLAIM_OK = 1,           /* verified: *identity set */
	CLAIM_BAD_MAC = 2,      /* MAC mismatch (forged, spliced, altered) or unknown version */
	CLAIM_REPLAY = 3,       /* identical claim already accepted on this node, or (CLAIM_V_PENDING)
				 * a SYN-ACK that answers another SYN than the pending one */
	CLAIM_STALE = 4,        /* epoch outside send_epoch-1 .. send_epoch+1 */
	CLAIM_TRUNCATED = 5,    /* option present but cut short / malformed length / bad TCP header */
	CLAIM_UNKNOWN_NODE = 6, /* no key for (sending node, epoch), or this node unconfigured */
	CLAIM_NOT_HOSTED = 7,   /* valid MAC but the sending node does not host that identity */
};

/* Inputs of one MAC computation, host-order scalars; addresses as struct claim_addr. */
struct claim_mac_in {
	__u32 identity;
	__u16 node_id;
	__u8 epoch;
	__u8 is_synack;
	__u16 sport, dport; /* host order */
	__u32 isn, peer_isn; /* host order; peer_isn = 0 on a SYN */
	struct claim_addr saddr, daddr;
};

static __always_inline int claim_addr_is_v4(const struct claim_addr *a)
{
	return a->a[0] == 0 && a->a[1] == 0 && a->a[2] == bpf_htonl(0x0000ffff);
}

/*
 * The MAC message (docs/wire-format.md): three words of claim and connection fields, then the
 * addresses: one word holding both IPv4 addresses when both are v4-mapped (32-byte message),
 * else four words of the two 16-byte addresses (56 bytes). Byte 9 names the form (4 or 6).
 */
static __always_inline __u64 claim_mac(const struct claim_key *k, const struct claim_mac_in *in)
{
	struct siphash_state s;
	__u64 v4 = claim_addr_is_v4(&in->saddr) && claim_addr_is_v4(&in->daddr);

	siphash_init(&s, k->k0, k->k1);
	siphash_word(&s, (__u64)CLAIM_VERSION | ((__u64)in->is_synack << 8) |
				 ((__u64)in->node_id << 16) | ((__u64)in->identity << 32));
	siphash_word(&s, (__u64)in->epoch | ((v4 ? 4ull : 6ull) << 8) | ((__u64)in->sport << 16) |
				 ((__u64)in->dport << 32));
	siphash_word(&s, (__u64)in->isn | ((__u64)in->peer_isn << 32));
	if (v4) {
		siphash_word(&s, (__u64)in->saddr.a[3] | ((__u64)in->daddr.a[3] << 32));
		return siphash_final(&s, CLAIM_MAC_WORDS_V4);
	}
	siphash_word(&s, (__u64)in->saddr.a[0] | ((__u64)in->saddr.a[1] << 32));
	siphash_word(&s, (__u64)in->saddr.a[2] | ((__u64)in->saddr.a[3] << 32));
	siphash_word(&s, (__u64)in->daddr.a[0] | ((__u64)in->daddr.a[1] << 32));
	siphash_word(&s, (__u64)in->daddr.a[2] | ((__u64)in->daddr.a[3] << 32));
	return siphash_final(&s, CLAIM_MAC_WORDS);
}

static __always_inline void claim_addr_v4(struct claim_addr *a, __u32 v4 /* network order */)
{
	a->a[0] = 0;
	a->a[1] = 0;
	a->a[2] = bpf_htonl(0x0000ffff);
	a->a[3] = v4;
}

static __always_inline void claim_stat_bump(__u32 idx)
{
#ifndef CLAIM_NO_STATS
	__u64 *v = bpf_map_lookup_elem(&claim_stats, &idx);

	if (v)
		*v += 1;
#endif
}

/* TCP header flag bits (byte 13). */
#define CLAIM_TH_SYN 0x02
#define CLAIM_TH_ACK 0x10

/* Everything below is the receiver's (the policy programs). The sender (sockops_claim.bpf.c)
 * defines CLAIM_SENDER_ONLY: its object then holds neither this code nor its per-CPU maps. */
#ifndef CLAIM_SENDER_ONLY

static long claim_walk_step(__u64 i, void *ctx)
{
	__u32 zero = 0;
	struct claim_walk *w = bpf_map_lookup_elem(&claim_scratch, &zero);

	if (!w)
		return 1;
	__u32 off = w->off;
	__u8 kind, len;

	if (off >= w->optlen)
		return 1;
	kind = w->opts[off & 63];
	if (kind == 0) /* EOL */
		return 1;
	if (kind == 1) { /* NOP */
		w->off = off + 1;
		return 0;
	}
	if (kind == CLAIM_TCPOPT_EXP) {
		if (off + 4 > w->optlen) { /* cut before its ExID: could be ours */
			w->result = CLAIM_TRUNCATED;
			return 1;
		}
		if (w->opts[(off + 2) & 63] == (CLAIM_EXID >> 8) &&
		    w->opts[(off + 3) & 63] == (CLAIM_EXID & 0xff)) {
			w->found = off;
			return 1;
		}
	}
	if (off + 2 > w->optlen)
		return 1; /* malformed tail: no claim */
	len = w->opts[(off + 1) & 63];
	if (len < 2)
		return 1; /* malformed option list: stop, no claim before it */
	w->off = off + len;
	return 0;
}

/*
 * 64-bit compare-and-swap on a map value; returns the previous value. The project builds BPF
 * for the default (v1) CPU, where clang refuses __sync_val_compare_and_swap, so below v3 the
 * instruction is emitted by hand: BPF_STX | BPF_DW | BPF_ATOMIC with imm BPF_CMPXCHG, dst r1,
 * src r2, expected/returned value in r0 (the kernel verifier checks it like any other insn;
 * supported since 5.12).
 */
static __always_inline __u64 claim_cmpxchg64(__u64 *p, __u64 old, __u64 new)
{
#if defined(__BPF_CPU_VERSION__) && __BPF_CPU_VERSION__ >= 3
	return __sync_val_compare_and_swap(p, old, new);
#else
	register __u64 r0 asm("r0") = old;
	register __u64 *r1 asm("r1") = p;
	register __u64 r2 asm("r2") = new;

	asm volatile(".byte 0xdb, 0x21, 0x00, 0x00, 0xf1, 0x00, 0x00, 0x00"
		     : "+r"(r0)
		     : "r"(r1), "r"(r2)
		     : "memory");
	return r0;
#endif
}

/* Replay-cache slot of a claim: a multiplicative hash of the fields that make each handshake
 * packet unique (ISNs, ports, addresses, identity, node, epoch). A replay carries the same
 * fields, so it lands in the same slot; the slot then holds the accepted claim's MAC. */
static __always_inline __u32 claim_replay_slot(const struct claim_mac_in *in)
{
	__u64 h = ((__u64)in->isn << 32 | in->peer_isn) ^ ((__u64)in->sport << 48 | (__u64)in->dport << 32 | in->identity);

	h ^= ((__u64)in->saddr.a[3] << 32 | in->daddr.a[3]) ^ ((__u64)in->saddr.a[2] << 32 | in->daddr.a[2]);
	h ^= (__u64)in->node_id << 8 | in->epoch | (__u64)in->is_synack << 24;
	h *= 0x9E3779B97F4A7C15ull;
	return (__u32)(h >> 40) & (CLAIM_REPLAY_SLOTS - 1);
}

/* Slot of a claimed (identity, node, epoch) in claim_verify_memo. */
static __always_inline __u32 claim_verify_slot(__u32 identity, __u16 node_id, __u8 epoch)
{
	__u64 h = ((__u64)identity << 24 | (__u64)node_id << 8 | epoch) * 0x9E3779B97F4A7C15ull;

	return (__u32)(h >> 59) & (CLAIM_VERIFY_MEMO_SLOTS - 1);
}

#define CLAIM_V_REPLAY 0x1      /* check and record the replay cache (always, except benchmarks) */
#define CLAIM_V_BENCH_FRESH 0x2 /* test builds: salt the replay key so a repeated packet is fresh */
/* A SYN-ACK for a connection attempt the caller tracks: it must acknowledge that attempt's SYN
 * (peer ISN == c->expect_peer_isn), which the MAC covers; the replay cache is not consulted. A
 * SYN-ACK claim names the client's ISN, and the client accepts one only while that exact
 * attempt is pending (its conntrack entry), so an old SYN-ACK (another ISN) never matches and
 * a copy of the current one finds the attempt no longer pending. */
#define CLAIM_V_PENDING 0x4

static __always_inline enum claim_result claim_verify_opts(struct __sk_buff *skb,
							   const struct claim_ctx *c,
							   __u32 *identity, __u32 vflags)
{
	__u8 th[20];
	struct claim_walk *w;
	struct claim_opt co;
	struct claim_mac_in in;
	__u32 optlen, found;
	__u32 zero = 0;

	if (skb_load(skb, c->l4_off, th, sizeof(th)) < 0)
		return CLAIM_NONE; /* not even a TCP header: no claim */
	if (!(th[13] & CLAIM_TH_SYN))
		return CLAIM_NONE;
	optlen = (__u32)(th[12] >> 4) * 4;
	if (optlen < 20)
		return CLAIM_TRUNCATED;
	optlen -= 20;
	if (optlen == 0)
		return CLAIM_NONE;
	if (optlen > 40)
		return CLAIM_TRUNCATED;
	w = bpf_map_lookup_elem(&claim_scratch, &zero);
	if (!w)
		return CLAIM_NONE; /* cannot happen (per-CPU array, index 0) */
	if (bpf_skb_load_bytes(skb, c->l4_off + 20, w->opts, optlen) < 0)
		return CLAIM_TRUNCATED; /* header longer than the packet */

	w->optlen = optlen;
	w->off = 0;
	w->found = 0xffff;
	w->result = CLAIM_NONE;
	/* Fast path: Linux appends options written by BPF after its own, so a claim stamped by
	 * sockops_claim is the last 20 bytes of the option block; taking it from there saves
	 * ~60 ns per SYN. It can differ from the walk only on hand-built option blocks (a claim
	 * after an EOL is taken; claim-like bytes at the tail inside another option are taken and
	 * fail the MAC). Whatever is taken must still carry a valid MAC over this packet's own
	 * fields, so the shortcut never makes a claim verify that was not made for this packet. */
	if (optlen >= CLAIM_OPT_LEN && w->opts[(optlen - 20) & 63] == CLAIM_TCPOPT_EXP &&
	    w->opts[(optlen - 19) & 63] == CLAIM_OPT_LEN && w->opts[(optlen - 18) & 63] == (CLAIM_EXID >> 8) &&
	    w->opts[(optlen - 17) & 63] == (CLAIM_EXID & 0xff)) {
		found = optlen - 20;
	} else {
		/* Walk the options (at most 40 bytes, so at most 40 steps). bpf_loop keeps the
		 * verifier's work linear (an open-coded loop here exceeds its 1M-insn budget); the
		 * kernel inlines it (constant callback, no flags). */
		bpf_loop(40, claim_walk_step, NULL, 0);
		if (w->result != CLAIM_NONE)
			return w->result;
		found = w->found;
	}
	if (found == 0xffff)
		return CLAIM_NONE;
	if (w->opts[(found + 1) & 63] != CLAIM_OPT_LEN || found + CLAIM_OPT_LEN > optlen)
		return CLAIM_TRUNCATED;
	/* Copy the claim out of the walk buffer (byte loads at a variable offset). */
	{
		__u8 *dst = (__u8 *)&co;
		int k;

#pragma unroll
		for (k = 0; k < CLAIM_OPT_LEN; k++)
			dst[k] = w->opts[(found + k) & 63];
	}
	if (co.version != CLAIM_VERSION)
		return CLAIM_BAD_MAC;

	in.identity = bpf_ntohl(co.identity);
	in.node_id = bpf_ntohs(co.node_id);
	in.epoch = co.epoch;
	in.is_synack = (th[13] & CLAIM_TH_ACK) ? 1 : 0;
	in.sport = ((__u16)th[0] << 8) | th[1];
	in.dport = ((__u16)th[2] << 8) | th[3];
	in.isn = ((__u32)th[4] << 24) | ((__u32)th[5] << 16) | ((__u32)th[6] << 8) | th[7];
	in.peer_isn = in.is_synack ? (((__u32)th[8] << 24) | ((__u32)th[9] << 16) |
				      ((__u32)th[10] << 8) | th[11]) - 1 : 0;
	if ((vflags & CLAIM_V_PENDING) && (!in.is_synack || in.peer_isn != c->expect_peer_isn))
		return CLAIM_REPLAY;
	if (c->family == CLAIM_AF_INET6) {
		__builtin_memcpy(&in.saddr, c->saddr, 16);
		__builtin_memcpy(&in.daddr, c->daddr, 16);
	} else {
		claim_addr_v4(&in.saddr, c->saddr[0]);
		claim_addr_v4(&in.daddr, c->daddr[0]);
	}

	/* Replay slot (claim_replay_slot: the claimed fields pick it; only verified claims are ever
	 * written to it). Touched now, so its cache line comes in while the config, the memo and
	 * the MAC are worked out: a cold slot costs several hundred ns on a busy VM. */
	__u64 *seen = NULL;
	if ((vflags & CLAIM_V_REPLAY) && !(vflags & CLAIM_V_PENDING)) {
		__u32 slot = claim_replay_slot(&in);

		seen = bpf_map_lookup_elem(&claim_replay, &slot);
		if (!seen)
			return CLAIM_REPLAY; /* cannot happen (array, index masked): fail closed */
		(void)*(volatile __u64 *)seen;
	}

	struct claim_cfg *cfg = bpf_map_lookup_elem(&claim_cfg, &zero);
	if (!cfg || !cfg->node_id)
		return CLAIM_UNKNOWN_NODE;
	__u8 age = (__u8)(cfg->send_epoch - co.epoch);
	if (age > 1 && age != 255) /* previous, current or next epoch */
		return CLAIM_STALE;

	struct claim_key_id kid = { .node_id = in.node_id, .epoch = in.epoch };

	/* The key, and that the sending node hosts the identity (claim_hosted): from this CPU's
	 * memo when it is current, else from the maps and then remembered. Both are facts of the
	 * maps, not of this packet, so they are settled before the MAC. */
	__u32 serial = cfg->serial;
	zero = claim_verify_slot(in.identity, kid.node_id, kid.epoch); /* reuses the key slot */
	struct claim_verify_memo *memo = bpf_map_lookup_elem(&claim_verify_memo, &zero);
	struct claim_key *key;
	if (memo && memo->valid && memo->serial == serial && memo->identity == in.identity &&
	    memo->node_id == kid.node_id && memo->epoch == kid.epoch) {
		key = &memo->key;
	} else {
		key = bpf_map_lookup_elem(&claim_keys, &kid);
		if (!key)
			return CLAIM_UNKNOWN_NODE;
		struct claim_hosted_key hk = { .identity = in.identity, .node_id = kid.node_id };
		if (!bpf_map_lookup_elem(&claim_hosted, &hk))
			return CLAIM_NOT_HOSTED;
		if (memo) {
			memo->key = *key;
			memo->serial = serial;
			memo->identity = in.identity;
			memo->node_id = kid.node_id;
			memo->epoch = kid.epoch;
			memo->valid = 1;
		}
	}

	__u64 cur = seen ? *(volatile __u64 *)seen : 0;

	__u64 mac = claim_mac(key, &in);
	__u64 got;
	__builtin_memcpy(&got, co.mac, 8);
	if (mac != got)
		return CLAIM_BAD_MAC;

	if (seen) {
		__u64 tag = mac;

		if (vflags & CLAIM_V_BENCH_FRESH) { /* benchmarks only: every run is a new claim */
			tag ^= bpf_ktime_get_ns() << 20;
			cur = *(volatile __u64 *)seen;
		}
		if (cur == tag)
			return CLAIM_REPLAY;
		/* Two CPUs accepting the same claim at once: only one swap succeeds. */
		if (claim_cmpxchg64(seen, cur, tag) != cur && *(volatile __u64 *)seen == tag)
			return CLAIM_REPLAY;
	}
	*identity = in.identity;
	return CLAIM_OK;
}

/*
 * Verify the identity claim of a SYN or SYN-ACK. On CLAIM_OK *identity is the verified
 * identity; on anything else *identity is untouched and the caller treats the peer as world (2).
 * Counts every result in claim_stats. A retransmitted SYN carries the same claim as the first
 * one and reports CLAIM_REPLAY: callers let it through on their conntrack entry created by the
 * first, verified SYN (docs/wire-format.md, "Retransmissions").
 */
static __always_inline enum claim_result claim_verify(struct __sk_buff *skb, const struct claim_ctx *c,
						      __u32 *identity)
{
	enum claim_result r = claim_verify_opts(skb, c, identity, CLAIM_V_REPLAY);

	claim_stat_bump(r);
	return r;
}

/* Verify the claim of a SYN-ACK answering the tracked SYN whose ISN is `syn_isn` (the client's
 * pending conntrack entry): bound to that attempt instead of the replay cache (CLAIM_V_PENDING). */
static __always_inline enum claim_result claim_verify_pending(struct __sk_buff *skb, struct claim_ctx *c,
							      __u32 syn_isn, __u32 *identity)
{
	c->expect_peer_isn = syn_isn;
	enum claim_result r = claim_verify_opts(skb, c, identity, CLAIM_V_PENDING);

	claim_stat_bump(r);
	return r;
}

#endif /* !CLAIM_SENDER_ONLY */

#endif /* DIFW_LIB_CLAIM_H */
