// SPDX-License-Identifier: GPL-2.0
/* difw host firewall, TC egress: ufw's OUTPUT chain for packets this host sends.
 *
 * Forwarded packets (and replies tc_ingress redirects) carry the ifindex they arrived on in
 * skb->ingress_ifindex and were already judged at ingress, so they pass; locally generated
 * ones have 0 there. A rejected packet is rewritten into the reply and redirected to this
 * interface's ingress, so the local socket sees ECONNREFUSED. */
#include "lib/common.h"
#include "lib/parse.h"
#include "lib/ct.h"
#include "lib/frag.h"
#include "lib/decide.h"
#include "lib/reject.h"

char LICENSE[] SEC("license") = "GPL";

SEC("tc")
int tc_egress(struct __sk_buff *skb)
{
	__u32 gen = 0;
	struct fw_config *cfg = fw_active_config(&gen);
	if (!cfg || !cfg->enabled) {
		stat_inc(FW_STAT_DISABLED);
		return TC_ACT_OK;
	}
	if (skb->ingress_ifindex != 0)
		return TC_ACT_OK;

	__u32 len = skb->len;
	void *data, *data_end;
	skb_linear_headers(skb, &data, &data_end);

	struct pkt p = {};
	int r = parse_packet(&p, data, data_end, len);
	if (r == PARSE_NOT_IP) {
		stat_inc(FW_STAT_NOT_IP);
		return TC_ACT_OK;
	}
	__u64 now = fw_now();
	__u32 oif = skb->ifindex;
	if (r != PARSE_OK) {
		stat_inc(FW_STAT_INVALID);
		stat_inc(FW_STAT_DROPPED);
		return TC_ACT_SHOT;
	}
	if (p.frag == FRAG_LATER) {
		__u8 v = frag_verdict(&p, now);
		stat_inc(v == FW_FRAG_PASS ? FW_STAT_PASSED : FW_STAT_DROPPED);
		return v == FW_FRAG_PASS ? TC_ACT_OK : TC_ACT_SHOT;
	}

	struct ct_ctx c = {};
	int cts = ct_classify(&p, &c, data, data_end, now);
	struct chain_env env = {.cfg = *cfg, .now = now, .gen = gen, .chain = FW_CHAIN_OUT, .oif = oif};
	struct decision d = {};
	d.verdict = decide(&p, cts, &env, &d);
	settle(&p, &c, cts, &d, now);
	if (p.frag == FRAG_FIRST)
		frag_remember(&p, d.verdict == FW_V_PASS ? FW_FRAG_PASS : FW_FRAG_DROP, now);

	if (d.verdict == FW_V_PASS)
		return TC_ACT_OK;
	if (d.verdict == FW_V_REJECT) {
		if (d.reply == FW_REPLY_RST && ct_mark_rejected(&c, now) < 0)
			stat_inc(FW_STAT_REJECT_FAIL);
		if (build_reply(skb, p.family, p.l4off, d.reply)) {
			stat_inc(FW_STAT_REJECT_FAIL);
			return TC_ACT_SHOT;
		}
		skb->mark = FW_REPLY_MARK;
		return bpf_redirect(skb->ifindex, BPF_F_INGRESS);
	}
	return TC_ACT_SHOT;
}
