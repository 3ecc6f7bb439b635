// SPDX-License-Identifier: GPL-2.0
/* difw host firewall, TC clsact ingress. Two programs; an interface gets one of them:
 *
 *   tc_ingress     next to xdp_ingress (interfaces whose ingress hook is XDP): answers the
 *                  packets XDP rejected. XDP marks them with struct fw_xdp_meta; this program
 *                  rewrites the frame into the TCP RST / ICMP port unreachable and sends it back
 *                  out of the interface it came in on. Everything else passes.
 *   tc_ingress_fw  the whole ingress chain (lib/ingress.h) at TC, for interfaces whose ingress
 *                  hook is TC (veth: XDP there copies every skb into a new buffer first). It
 *                  builds and sends rejects itself.
 *
 * Both let through, unjudged, the replies tc_egress built for this host's own rejected packets
 * and redirected to this interface's ingress (FW_REPLY_MARK). */
#include "lib/ingress.h"
#include "lib/reject.h"

char LICENSE[] SEC("license") = "GPL";

/* One of our own replies, redirected here by tc_egress: clear the mark and let it in. */
DIFW_INLINE int own_reply(struct __sk_buff *skb)
{
	if (skb->mark != FW_REPLY_MARK)
		return 0;
	skb->mark = 0;
	return 1;
}

DIFW_INLINE int send_reply(struct __sk_buff *skb, __u8 family, __u32 l4off, __u8 reply)
{
	if (build_reply(skb, family, l4off, reply)) {
		stat_inc(FW_STAT_REJECT_FAIL);
		return TC_ACT_SHOT;
	}
	return bpf_redirect(skb->ifindex, 0);
}

SEC("tc")
int tc_ingress(struct __sk_buff *skb)
{
	if (own_reply(skb))
		return TC_ACT_OK;
	void *data = (void *)(long)skb->data;
	struct fw_xdp_meta *m = (void *)(long)skb->data_meta;
	if ((void *)(m + 1) > data || m->magic != FW_META_MAGIC)
		return TC_ACT_OK;
	__u8 reply = m->reply, family = m->family;
	__u32 l4off = m->l4off;
	m->magic = 0;
	return send_reply(skb, family, l4off, reply);
}

SEC("tc")
int tc_ingress_fw(struct __sk_buff *skb)
{
	if (own_reply(skb))
		return TC_ACT_OK;
	__u32 len = skb->len;
	void *data, *data_end;
	skb_linear_headers(skb, &data, &data_end);
	struct pkt p = {};
	struct decision d = {};
	__u8 v = ingress_verdict(skb, data, data_end, len, skb->ifindex, &p, &d);
	if (v == FW_V_PASS)
		return TC_ACT_OK;
	if (v == FW_V_REJECT)
		return send_reply(skb, p.family, p.l4off, d.reply);
	return TC_ACT_SHOT;
}
