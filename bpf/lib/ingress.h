/* ufw's INPUT / FORWARD chains for one received frame: the body shared by the two ingress hooks,
 * xdp_ingress (XDP) and tc_ingress_fw (TC clsact ingress, for devices where XDP costs a copy of
 * every packet, see docs/datapath.md "Ingress hook").
 *
 * Parse once, conntrack, then the INPUT chain for packets addressed to this host or the FORWARD
 * chain for packets it routes (bpf_fib_lookup: "not forwarded" = local). `ctx` is the hook's
 * own context (xdp_md or __sk_buff), used only for the FIB lookup. Returns FW_V_PASS, FW_V_DROP
 * or FW_V_REJECT; for a reject, `p` and `d->reply` say what to answer. */
#ifndef DIFW_LIB_INGRESS_H
#define DIFW_LIB_INGRESS_H
#include "common.h"
#include "parse.h"
#include "ct.h"
#include "frag.h"
#include "decide.h"

#define AF_INET 2
#define AF_INET6 10

/* Sets env->chain to FW_CHAIN_FWD and env->oif when the kernel would route the packet elsewhere. */
static __noinline void route_chain(void *ctx, const struct pkt *p, struct chain_env *env)
{
	struct bpf_fib_lookup f = {};
	f.ifindex = env->iif;
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
		env->oif = f.ifindex;
		env->chain = FW_CHAIN_FWD;
	}
	/* Otherwise INPUT: NOT_FWDED (local, broadcast, multicast), FWD_DISABLED (forwarding off:
	 * the kernel only delivers locally), blackhole/unreachable (the kernel drops it anyway). */
}

/* `len` is the whole frame's length (for TC it can exceed the linear part `data_end - data`). */
DIFW_INLINE __u8 ingress_verdict(void *ctx, void *data, void *data_end, __u32 len, __u32 iif, struct pkt *p, struct decision *d)
{
	__u32 gen = 0, serial = 0;
	struct fw_config *cfg = fw_active_config_serial(&gen, &serial);
	if (!cfg || !cfg->enabled) {
		stat_inc(FW_STAT_DISABLED);
		return FW_V_PASS;
	}
	int r = parse_packet(p, data, data_end, len);
	if (r == PARSE_NOT_IP) {
		stat_inc(FW_STAT_NOT_IP);
		return FW_V_PASS;
	}
	__u64 now = fw_now();
	if (r != PARSE_OK) {
		stat_inc(FW_STAT_INVALID);
		stat_inc(FW_STAT_DROPPED);
		if (cfg->log_level >= FW_LOG_MEDIUM)
			emit_event(p, cfg, now, FW_EV_INVALID, FW_CHAIN_IN, FW_V_DROP, 0, iif, 0);
		return FW_V_DROP;
	}
	if (p->frag == FRAG_LATER) {
		__u8 v = frag_verdict(p, now);
		stat_inc(v == FW_FRAG_PASS ? FW_STAT_PASSED : FW_STAT_DROPPED);
		return v == FW_FRAG_PASS ? FW_V_PASS : FW_V_DROP;
	}

	struct ct_ctx c = {};
	struct ct_entry *ce;
	int cts = ct_classify_entry(p, &c, data, data_end, now, &ce);

	/* Fast path: a packet of an established connection that nothing logs (ufw accepts
	 * ESTABLISHED ahead of every rule; only `logging high|full` audits it). The same outcome as
	 * decide() + settle(), without the chain set-up and a second conntrack lookup. */
	if (cts == CTS_EST && ce && !p->rh0 && p->frag == FRAG_NONE && cfg->log_level < FW_LOG_HIGH) {
		stat_inc(FW_STAT_CT_HIT);
		ct_refresh_entry(p, &c, ce, now);
		stat_inc(FW_STAT_PASSED);
		return FW_V_PASS;
	}
	/* A later NEW packet of a flow (no reply yet: a one-way UDP stream) whose first packet this
	 * rule set accepted with no side effect: the rules would give the same answer again. A
	 * limit rule or a logged accept never memoizes (each NEW packet counts or logs), and any
	 * rule, policy or logging change bumps the serial. */
	if (cts == CTS_NEW && ce && serial && ce->ok_serial == serial && ce->ok_iif == (__u16)iif && !p->rh0 &&
	    p->frag == FRAG_NONE && cfg->log_level < FW_LOG_MEDIUM) {
		ct_confirm_entry(p, &c, now, ce);
		stat_inc(FW_STAT_PASSED);
		return FW_V_PASS;
	}

	struct chain_env env = {.cfg = *cfg, .now = now, .gen = gen, .chain = FW_CHAIN_IN, .iif = iif};
	if (cts != CTS_EST && cts != CTS_REL && !(cfg->flags & FW_CFG_NO_FIB)) {
		route_chain(ctx, p, &env);
		if (env.chain == FW_CHAIN_FWD)
			stat_inc(FW_STAT_FORWARDED);
	}
	d->verdict = decide(p, cts, &env, d);
	settle(p, &c, cts, d, now);
	if (d->verdict == FW_V_PASS && d->repeatable && cts == CTS_NEW && env.chain == FW_CHAIN_IN && serial)
		ct_memo_accept(&c, ce, serial, iif, now);
	if (p->frag == FRAG_FIRST)
		frag_remember(p, d->verdict == FW_V_PASS ? FW_FRAG_PASS : FW_FRAG_DROP, now);
	return d->verdict;
}
#endif
