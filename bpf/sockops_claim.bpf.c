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
#include "lib/claim.h"
#include "maps/claim_plan.h"

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

/* Everything needed to stamp this socket's handshake packet: 1, or 0 with the reason counted. */
static __always_inline int claim_plan(struct bpf_sock_ops *skops, struct claim_plan *p)
{
	__u32 zero = 0;
	struct claim_cfg *cfg = bpf_map_lookup_elem(&claim_cfg, &zero);

	if (!cfg || !cfg->node_id || !(cfg->flags & CLAIM_CFG_F_STAMP)) {
		claim_stat_bump(CLAIM_ST_SKIP_KEY);
		return 0;
	}
	__u64 cgid = claim_sock_cgroup_id(skops);
	struct claim_local *loc = bpf_map_lookup_elem(&claim_local, &cgid);
	if (!loc) {
		claim_stat_bump(CLAIM_ST_SKIP_LOCAL);
		return 0;
	}
	claim_remote_addr(skops, &p->daddr);
	struct claim_peer *peer = bpf_map_lookup_elem(&claim_peers, &p->daddr);
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

/* The packet a plan slot is for (see maps/claim_plan.h). */
static __always_inline void claim_slot_name(struct bpf_sock_ops *skops, struct claim_plan_slot *s, __u32 synack)
{
	CLAIM_CTX_LOAD(s->lport, skops->local_port);
	CLAIM_CTX_LOAD(s->rport, skops->remote_port);
	s->synack = synack;
}

static __always_inline int is_syn(struct bpf_sock_ops *skops)
{
	return skops->skb_tcp_flags & CLAIM_TH_SYN;
}

static __always_inline int is_synack(struct bpf_sock_ops *skops)
{
	return (skops->skb_tcp_flags & (CLAIM_TH_SYN | CLAIM_TH_ACK)) == (CLAIM_TH_SYN | CLAIM_TH_ACK);
}

static __always_inline void claim_hdr_len(struct bpf_sock_ops *skops)
{
	__u32 zero = 0;
	struct claim_plan_slot *slot;

	if (!is_syn(skops))
		return;
	slot = bpf_map_lookup_elem(&claim_plan_cache, &zero);
	if (!slot)
		return;
	slot->lport = 0; /* empty until the plan is complete */
	if (!claim_plan(skops, &slot->plan))
		return;
	if (bpf_reserve_hdr_opt(skops, CLAIM_OPT_LEN, 0) < 0) {
		claim_stat_bump(CLAIM_ST_SKIP_SPACE);
		return;
	}
	claim_slot_name(skops, slot, is_synack(skops));
}

/* The plan HDR_OPT_LEN made for this packet on this CPU, else a new one. */
static __always_inline int claim_plan_for_write(struct bpf_sock_ops *skops, struct claim_plan *p, __u32 synack)
{
	__u32 zero = 0;
	struct claim_plan_slot *slot = bpf_map_lookup_elem(&claim_plan_cache, &zero);
	struct claim_plan_slot want;

	if (slot && slot->lport) {
		claim_slot_name(skops, &want, synack);
		claim_remote_addr(skops, &want.plan.daddr);
		if (slot->lport == want.lport && slot->rport == want.rport && slot->synack == want.synack &&
		    slot->plan.daddr.a[0] == want.plan.daddr.a[0] && slot->plan.daddr.a[1] == want.plan.daddr.a[1] &&
		    slot->plan.daddr.a[2] == want.plan.daddr.a[2] && slot->plan.daddr.a[3] == want.plan.daddr.a[3]) {
			*p = slot->plan;
			slot->lport = 0; /* one packet, one use */
			return 1;
		}
	}
	return claim_plan(skops, p);
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
	claim_local_addr(skops, &in.saddr);
	in.is_synack = th->ack ? 1 : 0;
	if (!claim_plan_for_write(skops, &p, in.is_synack))
		return;

	in.identity = p.identity;
	in.node_id = p.node_id;
	in.epoch = p.epoch;
	in.sport = bpf_ntohs(th->source);
	in.dport = bpf_ntohs(th->dest);
	in.isn = bpf_ntohl(th->seq);
	in.peer_isn = in.is_synack ? bpf_ntohl(th->ack_seq) - 1 : 0;
	in.daddr = p.daddr;

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
