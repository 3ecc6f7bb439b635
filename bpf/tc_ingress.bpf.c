// SPDX-License-Identifier: GPL-2.0
/* difw host firewall, TC ingress: answers the packets xdp_ingress rejected. XDP marks them
 * with struct fw_xdp_meta; this program rewrites the frame into the TCP RST / ICMP port
 * unreachable and sends it back out of the interface it came in on. Everything else passes. */
#include "lib/common.h"
#include "lib/reject.h"

char LICENSE[] SEC("license") = "GPL";

SEC("tc")
int tc_ingress(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	struct fw_xdp_meta *m = (void *)(long)skb->data_meta;
	if ((void *)(m + 1) > data || m->magic != FW_META_MAGIC)
		return TC_ACT_OK;
	__u8 reply = m->reply, family = m->family;
	__u32 l4off = m->l4off;
	m->magic = 0;
	if (build_reply(skb, family, l4off, reply)) {
		stat_inc(FW_STAT_REJECT_FAIL);
		return TC_ACT_SHOT;
	}
	return bpf_redirect(skb->ifindex, 0);
}
