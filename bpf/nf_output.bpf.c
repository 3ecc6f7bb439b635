// SPDX-License-Identifier: GPL-2.0
/* difw host firewall, netfilter LOCAL_OUT (IPv4 and IPv6 hooks): drops what ufw's OUTPUT chain
 * drops *before* the packet leaves the stack, so the sending socket gets EPERM exactly as with
 * iptables (a TC drop is invisible to a UDP sender); non-TCP rejects are dropped here too, as
 * iptables' REJECT does. It only computes verdicts: conntrack,
 * counters, events, limits, rejects and fragments stay with tc_egress, which still sees every
 * packet this program accepts. Loopback traffic is accepted (ufw-before-output -o lo).
 *
 * No direct packet access here: the first FW_NF_COPY bytes are copied behind a fake Ethernet
 * header into a per-CPU buffer, and the shared parser runs on that copy. It shares the pinned
 * maps of the other programs. libbpf 1.1.2 does not know SEC("netfilter"): the loader sets the
 * program type, and creates the links with a raw BPF_LINK_CREATE. */
#include "lib/common.h"
#include "lib/parse.h"
#include "lib/ct.h"
#include "lib/decide.h"
#include "maps/nf_scratch.h"

char LICENSE[] SEC("license") = "GPL";

#define NF_DROP 0
#define NF_ACCEPT 1

extern int bpf_dynptr_from_skb(struct __sk_buff *skb, __u64 flags, struct bpf_dynptr *ptr__uninit) __ksym;

SEC("netfilter")
int nf_output(struct bpf_nf_ctx *ctx)
{
	__u32 gen = 0;
	struct fw_config *cfg = fw_active_config(&gen);
	if (!cfg || !cfg->enabled)
		return NF_ACCEPT;
	const struct nf_hook_state *st = ctx->state;
	struct net_device *out = st->out;
	if (!out || out->ifindex == 1)
		return NF_ACCEPT;
	struct sk_buff *skb = ctx->skb;
	__u32 len = skb->len;
	__u32 zero = 0;
	struct fw_nf_scratch *sc = bpf_map_lookup_elem(&fw_nf_scratch, &zero);
	if (!sc)
		return NF_ACCEPT;
	struct bpf_dynptr ptr;
	if (bpf_dynptr_from_skb((struct __sk_buff *)skb, 0, &ptr))
		return NF_ACCEPT;
	__u32 n = len < FW_NF_COPY ? len : FW_NF_COPY;
	barrier_var(n);
	n &= 0x1ff;
	if (n > FW_NF_COPY || n < 1)
		return NF_ACCEPT;
	__u8 *data = sc->buf;
	if (bpf_dynptr_read(data + ETH_HLEN, n, &ptr, 0, 0))
		return NF_ACCEPT;
	__u16 et = (data[ETH_HLEN] >> 4) == 6 ? ETH_P_IPV6 : ETH_P_IP;
	data[12] = et >> 8;
	data[13] = et & 0xff;

	struct pkt p = {};
	void *data_end = data + ETH_HLEN + n;
	if (parse_packet(&p, data, data_end, ETH_HLEN + len) != PARSE_OK)
		return NF_ACCEPT; /* tc_egress drops malformed frames */
	if (p.frag == FRAG_LATER)
		return NF_ACCEPT;
	struct ct_ctx c = {};
	/* Netfilter programs may not call the coarse clock: the precise one runs ahead of fw_now()
	 * by less than a tick, so an entry can look expired here at most that much early. This
	 * program only reads conntrack (dry run). */
	__u64 now = bpf_ktime_get_ns();
	int cts = ct_classify(&p, &c, data, data_end, now);
	struct chain_env env = {.cfg = *cfg, .now = now, .gen = gen, .chain = FW_CHAIN_OUT, .oif = out->ifindex, .dry = 1};
	struct decision d = {};
	d.verdict = decide(&p, cts, &env, &d);
	if (d.verdict == FW_V_DROP)
		return NF_DROP;
	/* iptables' REJECT also drops the packet (NF_DROP: the sender sees EPERM) and sends the
	 * reply. A TCP connect ignores that EPERM and fails on the RST, which tc_egress builds, so
	 * TCP goes on; anything else fails at send() with EPERM, as with ufw. */
	if (d.verdict == FW_V_REJECT && p.proto != IPPROTO_TCP)
		return NF_DROP;
	return NF_ACCEPT;
}
