// SPDX-License-Identifier: GPL-2.0
/*
 * Sender side of the identity claim: a sockops program attached to a node's pod-parent cgroup
 * stamps every SYN and SYN-ACK of sockets in a listed cgroup (claim_local) going to a listed
 * cluster address (claim_peers) with the claim option of bpf/lib/claim.h.
 *
 * Callback flow:
 *   TCP_CONNECT_CB (client, before the SYN) and TCP_LISTEN_CB (server listener) turn on
 *     BPF_SOCK_OPS_WRITE_HDR_OPT_CB_FLAG. SYN-ACKs are built from a request sock, but the flag
 *     is tested on the listener, so it has to be set there.
 *   HDR_OPT_LEN_CB reserves CLAIM_OPT_LEN bytes on SYN / SYN-ACK only, and only when the claim
 *     will be written (otherwise the space would be NOP padding).
 *   Both need the plan (identity, key, ...): from the per-CPU memo of the (cgroup, destination)
 *     pair (maps/claim_send_memo.h), so a pair seen before costs no hash lookup.
 *   WRITE_HDR_OPT_CB builds the claim. skops->skb_data is the TCP header being sent: seq is this
 *     side's ISN, ack_seq on a SYN-ACK is the client's ISN + 1.
 *   ACTIVE/PASSIVE_ESTABLISHED_CB turn the flag off again: no callback, no reserved space and no
 *     cost on any later segment (the accepted child inherits the listener's flags).
 *
 * The socket's cgroup is read from the socket (not the current task): SYN-ACKs are sent from
 * softirq context, and for them it is the listener's cgroup (reached through the request sock).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_core_read.h>
#define CLAIM_SENDER_ONLY /* lib/claim.h: no verifier code or maps here */
#include "lib/claim.h"
#include "maps/claim_send_memo.h"

#define CLAIM_SOCKOPS_FLAGS BPF_SOCK_OPS_WRITE_HDR_OPT_CB_FLAG

/* Read-only view of a kernel object as its BTF type: loads become fault-tolerant direct loads
 * (the verifier turns the call into a register move), where bpf_probe_read_kernel costs a
 * helper call per field. Kernel 6.2+. */
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym;

/*
 * cgroup v2 id (kernfs node id = inode of the cgroup directory) of the socket behind skops.
 *
 * Full sockets (the client's SYN): skops->sk. SYN-ACKs are built from a request sock, for which
 * the sock_ops context hides skops->sk (it reads as NULL unless the socket is a full one); the
 * kernel's context structure (struct bpf_sock_ops_kern, the real object behind skops) still
 * holds it, so it is read from there through a read-only BTF view, and the cgroup is the
 * listener's (req->rsk_listener), like the cgroup programs the kernel runs for that SYN-ACK.
 */
static __always_inline __u64 claim_sock_cgroup_id(struct bpf_sock_ops *skops)
{
	struct bpf_sock *bsk = skops->sk;

	if (bsk) {
		struct tcp_sock *tp = bpf_skc_to_tcp_sock(bsk);
		struct cgroup *cg;

		if (!tp)
			return 0;
		cg = tp->inet_conn.icsk_inet.sk.sk_cgrp_data.cgroup;
		return cg ? cg->kn->id : 0;
	}

	struct bpf_sock_ops_kern *kern = bpf_rdonly_cast(skops, bpf_core_type_id_kernel(struct bpf_sock_ops_kern));
	struct request_sock *req = bpf_rdonly_cast(kern->sk, bpf_core_type_id_kernel(struct request_sock));
	struct sock *lsk;
	struct cgroup *cg;

	if (!req || req->__req_common.skc_state != TCP_NEW_SYN_RECV)
		return 0;
	/* rsk_listener shares a union with scalars, so the verifier reads it as one: cast it too */
	lsk = bpf_rdonly_cast(req->__req_common.skc_listener, bpf_core_type_id_kernel(struct sock));
	if (!lsk)
		return 0;
	cg = lsk->sk_cgrp_data.cgroup;
	return cg ? cg->kn->id : 0;
}

/*
 * Copy an address out of the sock_ops context. Every field is loaded once, straight from ctx,
 * and pinned with barrier_var(): otherwise clang keeps &skops->field in a register across the
 * MAC computation, and the verifier refuses a load through a modified ctx pointer.
 */
#define CLAIM_CTX_LOAD(dst, field)                                                                 \
	do {                                                                                       \
		__u32 __v = (field);                                                               \
		barrier_var(__v);                                                                  \
		(dst) = __v;                                                                       \
	} while (0)

static __always_inline void claim_remote_addr(struct bpf_sock_ops *skops, struct claim_addr *a)
{
	if (skops->family == CLAIM_AF_INET6) {
		CLAIM_CTX_LOAD(a->a[0], skops->remote_ip6[0]);
		CLAIM_CTX_LOAD(a->a[1], skops->remote_ip6[1]);
		CLAIM_CTX_LOAD(a->a[2], skops->remote_ip6[2]);
		CLAIM_CTX_LOAD(a->a[3], skops->remote_ip6[3]);
	} else {
		__u32 v4;

		CLAIM_CTX_LOAD(v4, skops->remote_ip4);
		claim_addr_v4(a, v4);
	}
}

static __always_inline void claim_local_addr(struct bpf_sock_ops *skops, struct claim_addr *a)
{
	if (skops->family == CLAIM_AF_INET6) {
		CLAIM_CTX_LOAD(a->a[0], skops->local_ip6[0]);
		CLAIM_CTX_LOAD(a->a[1], skops->local_ip6[1]);
		CLAIM_CTX_LOAD(a->a[2], skops->local_ip6[2]);
		CLAIM_CTX_LOAD(a->a[3], skops->local_ip6[3]);
	} else {
		__u32 v4;

		CLAIM_CTX_LOAD(v4, skops->local_ip4);
		claim_addr_v4(a, v4);
	}
}

/* Direct-mapped slot of a (cgroup, destination) pair in claim_send_memo. */
static __always_inline __u32 claim_send_slot(__u64 cgid, const struct claim_addr *d)
{
	__u64 h = (cgid ^ ((__u64)d->a[3] << 32 | d->a[2]) ^ ((__u64)d->a[1] << 32 | d->a[0])) * 0x9E3779B97F4A7C15ull;

	return (__u32)(h >> 59) & (CLAIM_SEND_MEMO_SLOTS - 1);
}

/* The plan from the maps: 1, or 0 with the reason counted. */
static __always_inline int claim_plan_lookup(const struct claim_cfg *cfg, __u64 cgid, const struct claim_addr *daddr,
					     struct claim_plan *p)
{
	struct claim_local *loc = bpf_map_lookup_elem(&claim_local, &cgid);
	if (!loc) {
		claim_stat_bump(CLAIM_ST_SKIP_LOCAL);
		return 0;
	}
	struct claim_peer *peer = bpf_map_lookup_elem(&claim_peers, daddr);
	if (!peer) {
		claim_stat_bump(CLAIM_ST_SKIP_PEER);
		return 0;
	}
	struct claim_key_id kid = { .node_id = peer->node_id, .epoch = cfg->send_epoch };
	struct claim_key *k = bpf_map_lookup_elem(&claim_keys, &kid);
	if (!k) {
		claim_stat_bump(CLAIM_ST_SKIP_KEY);
		return 0;
	}
	p->key = *k;
	p->identity = loc->identity;
	p->node_id = cfg->node_id;
	p->epoch = cfg->send_epoch;
	return 1;
}

static __always_inline int claim_addr_eq(const struct claim_addr *x, const struct claim_addr *y)
{
	return x->a[0] == y->a[0] && x->a[1] == y->a[1] && x->a[2] == y->a[2] && x->a[3] == y->a[3];
}

/*
 * Everything needed to stamp this socket's handshake packet (and its destination address):
 * 1, or 0 with the reason counted. From the pair's memo slot when it is current, else from the
 * maps (and then remembered).
 */
static __always_inline int claim_plan(struct bpf_sock_ops *skops, struct claim_plan *p, struct claim_addr *daddr)
{
	__u32 zero = 0;
	struct claim_cfg *cfg = bpf_map_lookup_elem(&claim_cfg, &zero);

	if (!cfg || !cfg->node_id || !(cfg->flags & CLAIM_CFG_F_STAMP)) {
		claim_stat_bump(CLAIM_ST_SKIP_KEY);
		return 0;
	}
	__u32 serial = cfg->serial;
	__u64 cgid = claim_sock_cgroup_id(skops);
	if (!cgid) {
		claim_stat_bump(CLAIM_ST_SKIP_LOCAL);
		return 0;
	}
	claim_remote_addr(skops, daddr);

	__u32 idx = claim_send_slot(cgid, daddr);
	struct claim_send_memo *m = bpf_map_lookup_elem(&claim_send_memo, &idx);
	if (!m || m->busy)
		return claim_plan_lookup(cfg, cgid, daddr, p); /* a program below us holds the slot */
	m->busy = 1;
	barrier();
	int ok = 1;
	if (m->cgid == cgid && m->serial == serial && claim_addr_eq(&m->daddr, daddr)) {
		*p = m->plan;
	} else {
		ok = claim_plan_lookup(cfg, cgid, daddr, p);
		if (ok) {
			m->plan = *p;
			m->daddr = *daddr;
			m->serial = serial;
			m->cgid = cgid;
		}
	}
	barrier();
	m->busy = 0;
	return ok;
}

static __always_inline int is_syn(struct bpf_sock_ops *skops)
{
	return skops->skb_tcp_flags & CLAIM_TH_SYN;
}

static __always_inline void claim_hdr_len(struct bpf_sock_ops *skops)
{
	struct claim_plan p;
	struct claim_addr daddr;

	if (!is_syn(skops))
		return;
	if (!claim_plan(skops, &p, &daddr))
		return;
	if (bpf_reserve_hdr_opt(skops, CLAIM_OPT_LEN, 0) < 0)
		claim_stat_bump(CLAIM_ST_SKIP_SPACE);
}

static __always_inline void claim_write(struct bpf_sock_ops *skops)
{
	struct claim_plan p;
	struct claim_mac_in in = {};
	struct claim_opt o;
	struct tcphdr *th = (void *)(long)skops->skb_data;
	void *end = (void *)(long)skops->skb_data_end;

	if (!is_syn(skops))
		return;
	if ((void *)(th + 1) > end)
		return;
	if (!claim_plan(skops, &p, &in.daddr))
		return;
	claim_local_addr(skops, &in.saddr);
	in.is_synack = th->ack ? 1 : 0;

	in.identity = p.identity;
	in.node_id = p.node_id;
	in.epoch = p.epoch;
	in.sport = bpf_ntohs(th->source);
	in.dport = bpf_ntohs(th->dest);
	in.isn = bpf_ntohl(th->seq);
	in.peer_isn = in.is_synack ? bpf_ntohl(th->ack_seq) - 1 : 0;

	__u64 mac = claim_mac(&p.key, &in);

	o.kind = CLAIM_TCPOPT_EXP;
	o.len = CLAIM_OPT_LEN;
	o.exid = bpf_htons(CLAIM_EXID);
	o.version = CLAIM_VERSION;
	o.epoch = p.epoch;
	o.node_id = bpf_htons(p.node_id);
	o.identity = bpf_htonl(p.identity);
	__builtin_memcpy(o.mac, &mac, 8);
	if (bpf_store_hdr_opt(skops, &o, sizeof(o), 0) < 0) {
		claim_stat_bump(CLAIM_ST_STORE_ERR);
		return;
	}
	claim_stat_bump(in.is_synack ? CLAIM_ST_STAMP_SYNACK : CLAIM_ST_STAMP_SYN);
}

SEC("sockops")
int difw_claim_sockops(struct bpf_sock_ops *skops)
{
#ifdef DIFW_COST_NO_STAMP
	/* Benchmark build only (build/cost/, bench/lab.ts): the callbacks an attached program gets
	 * anyway, none of the header-option ones. */
	if (skops->op != 0xffffffff)
		return 1;
#endif
	switch (skops->op) {
	case BPF_SOCK_OPS_TCP_CONNECT_CB:
	case BPF_SOCK_OPS_TCP_LISTEN_CB:
		bpf_sock_ops_cb_flags_set(skops, skops->bpf_sock_ops_cb_flags | CLAIM_SOCKOPS_FLAGS);
		break;
	case BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB:
	case BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB:
		bpf_sock_ops_cb_flags_set(skops, skops->bpf_sock_ops_cb_flags & ~CLAIM_SOCKOPS_FLAGS);
		break;
	case BPF_SOCK_OPS_HDR_OPT_LEN_CB:
		claim_hdr_len(skops);
		break;
	case BPF_SOCK_OPS_WRITE_HDR_OPT_CB:
		claim_write(skops);
		break;
	default:
		break;
	}
	return 1;
}

char LICENSE[] SEC("license") = "GPL";
