// SPDX-License-Identifier: GPL-2.0
/* difw host firewall, ingress at XDP: every frame arriving on an attached interface whose
 * ingress hook is XDP (physical NICs; see tc_ingress.bpf.c for the TC hook).
 *
 * The chain itself is lib/ingress.h. A rejected packet is passed up with an 8-byte metadata
 * request; tc_ingress on the same interface turns it into the RST / ICMP reply (lib/reject.h):
 * XDP_TX on a veth fails when the peer has no XDP program. */
#include "lib/ingress.h"

char LICENSE[] SEC("license") = "GPL";

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
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct pkt p = {};
	struct decision d = {};
	__u8 v = ingress_verdict(ctx, data, data_end, (__u32)(data_end - data), ctx->ingress_ifindex, &p, &d);
	if (v == FW_V_PASS)
		return XDP_PASS;
	if (v == FW_V_REJECT)
		return xdp_reject(ctx, &p, d.reply);
	return XDP_DROP;
}
