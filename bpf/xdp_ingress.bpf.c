// SPDX-License-Identifier: GPL-2.0
/* difw host firewall, ingress: every frame arriving on an attached interface.
 *
 * Parse once, conntrack, then ufw's INPUT chain for packets addressed to this host or its
 * FORWARD chain for packets it routes (decided with bpf_fib_lookup: "not forwarded" = local).
 * A rejected packet is passed up with an 8-byte metadata request; tc_ingress on the same
 * interface turns it into the RST / ICMP reply (see lib/reject.h). */
#include "lib/common.h"
#include "lib/parse.h"
#include "lib/ct.h"
#include "lib/frag.h"
#include "lib/decide.h"

char LICENSE[] SEC("license") = "GPL";

#define AF_INET 2
#define AF_INET6 10

/* FW_CHAIN_FWD with the output ifindex when the kernel would route the packet elsewhere. */
static __noinline __u32 route_chain(struct xdp_md *ctx, const struct pkt *p, __u32 *oif)
{
	struct bpf_fib_lookup f = {};
	f.ifindex = ctx->ingress_ifindex;
	f.l4_protocol = p->proto;
	f.sport = p->sport;
	f.dport = p->dport;
	f.tot_len = p->ip_len;
	if (p->family == 4) {
		f.family = AF_INET;
		f.ipv4_src = p->src[0];
		f.ipv4_dst = p->dst[0];
	} else {
		f.family = AF_INET6;
		__builtin_memcpy(f.ipv6_src, p->src, 16);
		__builtin_memcpy(f.ipv6_dst, p->dst, 16);
	}
	long rc = bpf_fib_lookup(ctx, &f, sizeof(f), BPF_FIB_LOOKUP_SKIP_NEIGH);
	if (rc == BPF_FIB_LKUP_RET_SUCCESS || rc == BPF_FIB_LKUP_RET_NO_NEIGH || rc == BPF_FIB_LKUP_RET_FRAG_NEEDED) {
		*oif = f.ifindex;
		return FW_CHAIN_FWD;
	}
	/* NOT_FWDED (local, broadcast, multicast), FWD_DISABLED (forwarding off: the kernel only
	 * delivers locally), blackhole/unreachable (the kernel drops it anyway). */
	return FW_CHAIN_IN;
}

static __always_inline int xdp_reject(struct xdp_md *ctx, const struct pkt *p, __u8 reply)
{
	if (bpf_xdp_adjust_meta(ctx, -(int)sizeof(struct fw_xdp_meta)))
		goto fail;
	void *data = (void *)(long)ctx->data;
	struct fw_xdp_meta *m = (void *)(long)ctx->data_meta;
	if ((void *)(m + 1) > data)
		goto fail;
	m->magic = FW_META_MAGIC;
	m->reply = reply;
	m->family = p->family;
	m->l4off = p->l4off;
	return XDP_PASS;
fail:
	stat_inc(FW_STAT_REJECT_FAIL);
	return XDP_DROP;
}

SEC("xdp")
int xdp_ingress(struct xdp_md *ctx)
{
	__u32 gen = 0;
	struct fw_config *cfg = fw_active_config(&gen);
	if (!cfg || !cfg->enabled) {
		stat_inc(FW_STAT_DISABLED);
		return XDP_PASS;
	}

	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct pkt p = {};
	int r = parse_packet(&p, data, data_end, (__u32)(data_end - data));
	if (r == PARSE_NOT_IP) {
		stat_inc(FW_STAT_NOT_IP);
		return XDP_PASS;
	}
	__u64 now = bpf_ktime_get_ns();
	__u32 iif = ctx->ingress_ifindex;
	if (r != PARSE_OK) {
		stat_inc(FW_STAT_INVALID);
		stat_inc(FW_STAT_DROPPED);
		if (cfg->log_level >= FW_LOG_MEDIUM)
			emit_event(&p, cfg, now, FW_EV_INVALID, FW_CHAIN_IN, FW_V_DROP, 0, iif, 0);
		return XDP_DROP;
	}
	if (p.frag == FRAG_LATER) {
		__u8 v = frag_verdict(&p, now);
		stat_inc(v == FW_FRAG_PASS ? FW_STAT_PASSED : FW_STAT_DROPPED);
		return v == FW_FRAG_PASS ? XDP_PASS : XDP_DROP;
	}

	struct ct_ctx c = {};
	int cts = ct_classify(&p, &c, data, data_end, now);

	struct chain_env env = {.cfg = *cfg, .now = now, .gen = gen, .chain = FW_CHAIN_IN, .iif = iif};
	if (cts != CTS_EST && cts != CTS_REL && !(cfg->flags & FW_CFG_NO_FIB)) {
		__u32 oif = 0;
		env.chain = route_chain(ctx, &p, &oif);
		env.oif = oif;
		if (env.chain == FW_CHAIN_FWD)
			stat_inc(FW_STAT_FORWARDED);
	}
	struct decision d = {};
	d.verdict = decide(&p, cts, &env, &d);
	settle(&p, &c, cts, &d, now);
	if (p.frag == FRAG_FIRST)
		frag_remember(&p, d.verdict == FW_V_PASS ? FW_FRAG_PASS : FW_FRAG_DROP, now);

	if (d.verdict == FW_V_PASS)
		return XDP_PASS;
	if (d.verdict == FW_V_REJECT)
		return xdp_reject(ctx, &p, d.reply);
	return XDP_DROP;
}
