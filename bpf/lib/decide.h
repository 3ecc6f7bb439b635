/* The verdict for one parsed packet in one chain, in ufw's order:
 *   rh0 drop (IPv6) -> ESTABLISHED/RELATED accept -> [input: ICMPv6 echo-reply accept, INVALID
 *   drop] -> before-rules accepts -> user rules (first match) -> default policy.
 * Also decides what conntrack must do and which events to log. */
#ifndef DIFW_LIB_DECIDE_H
#define DIFW_LIB_DECIDE_H
#include "common.h"
#include "parse.h"
#include "ct.h"
#include "implicit.h"
#include "classify.h"
#include "limit.h"
#include "events.h"

struct decision {
	__u8 verdict;  /* FW_V_* */
	__u8 reply;    /* FW_REPLY_* when verdict is FW_V_REJECT */
	__u8 confirm;  /* open a conntrack entry */
	__u8 refresh;  /* advance an existing one */
	__u8 repeatable; /* accepted with no side effect (no limit rule, no event): valid for the flow */
	__u8 pad[3];
};

/* Passed by pointer to global subprograms, which cannot follow pointers stored in their
 * arguments: hence a copy of the configuration rather than a pointer to it. */
struct chain_env {
	struct fw_config cfg;
	__u64 now;
	__u32 gen;
	__u16 chain;
	__u8 dry;  /* only compute the verdict: no events, counters or limit stamps (nf_output) */
	__u8 pad;
	__u32 iif;
	__u32 oif;
};

/* Global subprogram (verified once): log one event for this packet in this chain. */
__noinline int fw_emit(const struct pkt *p, const struct chain_env *env, __u32 tag, __u32 verdict, __u32 rule)
{
	if (!p || !env || env->dry)
		return 0;
	emit_event(p, &env->cfg, env->now, tag, env->chain, verdict, rule, env->iif, env->oif);
	return 0;
}

DIFW_INLINE int is_mcast_or_bcast(const struct pkt *p, const __u32 *a)
{
	if (p->family == 4) {
		__u32 v = bpf_ntohl(a[0]);
		return (v >> 28) == 0xe || v == 0xffffffff;
	}
	return (bpf_ntohl(a[0]) >> 24) == 0xff;
}

/* Like the kernel's REJECT: never answer a RST, an ICMP error or a multicast/broadcast packet;
 * those are silently dropped instead. */
DIFW_INLINE __u8 reject_reply(const struct pkt *p, __u8 want_rst)
{
	if (!p->has_l4 || is_mcast_or_bcast(p, p->dst) || is_mcast_or_bcast(p, p->src))
		return 0;
	if (p->proto == IPPROTO_TCP && (p->tcp_flags & TCPF_RST))
		return 0;
	if (is_icmp_of_family(p) && is_icmp_error(p->family, p->icmp_type))
		return 0;
	if (want_rst && p->proto == IPPROTO_TCP)
		return FW_REPLY_RST;
	return FW_REPLY_ICMP;
}

DIFW_INLINE void set_reject(const struct pkt *p, struct decision *d, __u8 want_rst)
{
	d->reply = reject_reply(p, want_rst);
	d->verdict = d->reply ? FW_V_REJECT : FW_V_DROP;
}

DIFW_INLINE void decide_body(const struct pkt *p, int cts, const struct chain_env *env, struct decision *d)
{
	const struct fw_config *cfg = &env->cfg;
	__u8 level = cfg->log_level;
	__u8 chain = env->chain;
	d->verdict = FW_V_PASS;

	/* ufw[6]-before-logging-*: [UFW AUDIT] for new packets at medium, all at high and full. */
	if (level >= FW_LOG_HIGH || (level == FW_LOG_MEDIUM && cts == CTS_NEW))
		fw_emit(p, env, FW_EV_AUDIT, 0, 0);

	if (p->rh0) {
		d->verdict = FW_V_DROP;
		return;
	}
	if (cts == CTS_EST || cts == CTS_REL) {
		if (!env->dry)
			stat_inc(FW_STAT_CT_HIT);
		d->refresh = cts == CTS_EST;
		return;
	}
	if (chain == FW_CHAIN_IN) {
		if (p->family == 6 && p->proto == IPPROTO_ICMPV6 && p->icmp_type == 129)
			return;
		if (cts == CTS_INVALID) {
			if (!env->dry)
				stat_inc(FW_STAT_INVALID);
			if (level >= FW_LOG_MEDIUM)
				fw_emit(p, env, FW_EV_INVALID, FW_V_DROP, 0);
			d->verdict = FW_V_DROP;
			return;
		}
		if (implicit_input(p)) {
			d->confirm = 1;
			d->repeatable = level < FW_LOG_MEDIUM;
			return;
		}
	} else if (chain == FW_CHAIN_OUT) {
		if (implicit_output(p)) {
			d->confirm = 1;
			return;
		}
	} else {
		if (implicit_forward(p)) {
			d->confirm = 1;
			return;
		}
	}

	__u32 rule = classify(p, cfg, env->gen, chain, env->iif, env->oif);
	if (rule < FW_MAX_RULES) {
		__u32 ai = env->gen * FW_MAX_RULES + rule;
		struct rule_action *a = bpf_map_lookup_elem(&fw_actions, &ai);
		if (a) {
			__u8 act = a->action;
			__u8 logged = level != FW_LOG_OFF && (a->log == FW_RLOG_ALL || (a->log == FW_RLOG_NEW && cts == CTS_NEW));
			if (logged) {
				__u8 tag = act == FW_ACT_ALLOW ? FW_EV_ALLOW : act == FW_ACT_LIMIT ? FW_EV_LIMIT : FW_EV_BLOCK;
				__u8 v = act == FW_ACT_DENY ? FW_V_DROP : act == FW_ACT_REJECT ? FW_V_REJECT : FW_V_PASS;
				fw_emit(p, env, tag, v, a->number);
			}
			if (act == FW_ACT_ALLOW) {
				d->confirm = 1;
				d->repeatable = !logged && level < FW_LOG_MEDIUM;
			} else if (act == FW_ACT_DENY) {
				d->verdict = FW_V_DROP;
			} else if (act == FW_ACT_REJECT) {
				set_reject(p, d, a->reject == FW_RJ_TCP_RST);
			} else if (act == FW_ACT_LIMIT) {
				if (env->dry) {
					d->confirm = 1; /* a limit refusal is a reject: left to tc_egress */
				} else if (cts == CTS_NEW && fw_limit_over(p, env->now)) {
					stat_inc(FW_STAT_LIMITED);
					if (level != FW_LOG_OFF)
						fw_emit(p, env, FW_EV_LIMIT_BLOCK, FW_V_REJECT, a->number);
					set_reject(p, d, 0); /* ufw-user-limit: plain REJECT */
				} else {
					d->confirm = 1;
				}
			} else {
				d->verdict = FW_V_DROP; /* unknown action: fail closed */
			}
			return;
		}
	}

	__u8 pol = chain == FW_CHAIN_IN ? cfg->def_in : chain == FW_CHAIN_OUT ? cfg->def_out : cfg->def_routed;
	__u8 quiet = chain == FW_CHAIN_IN && after_input_quiet(p);
	if (pol == FW_POL_NONE || pol == FW_POL_ALLOW) {
		d->confirm = 1;
		d->repeatable = level < FW_LOG_MEDIUM;
		if (pol == FW_POL_ALLOW && level >= FW_LOG_MEDIUM && !quiet)
			fw_emit(p, env, FW_EV_ALLOW, FW_V_PASS, 0);
		return;
	}
	if (pol == FW_POL_REJECT)
		set_reject(p, d, 0); /* ufw-reject-*: plain REJECT (ICMP port unreachable) */
	else
		d->verdict = FW_V_DROP;
	if (level >= FW_LOG_LOW && !quiet)
		fw_emit(p, env, FW_EV_BLOCK, d->verdict, 0);
}

/* A global subprogram: the verifier checks it once, not once per path of the caller, and it
 * keeps the callers' stack frames small. Returns the verdict, which callers must use (clang
 * drops unused return values, and a subprogram leaving a stack pointer in r0 is refused). */
__noinline int decide(const struct pkt *p, int cts, const struct chain_env *env, struct decision *d)
{
	if (!p || !env || !d)
		return FW_V_DROP;
	decide_body(p, cts, env, d);
	return d->verdict;
}

/* Apply the conntrack side effects and count. Out of line: its temporaries stay off the
 * caller's frame, which the deepest call chain (decide -> limit) adds to. */
static __noinline __attribute__((unused)) void settle(const struct pkt *p, struct ct_ctx *c, int cts, struct decision *d, __u64 now)
{
	if (d->verdict == FW_V_PASS) {
		if (d->refresh)
			ct_refresh(p, c, now);
		else if (d->confirm && (cts == CTS_NEW))
			ct_confirm(p, c, now);
		stat_inc(FW_STAT_PASSED);
	} else if (d->verdict == FW_V_REJECT) {
		stat_inc(FW_STAT_REJECTED);
	} else {
		stat_inc(FW_STAT_DROPPED);
	}
}
#endif
