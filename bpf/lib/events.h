/* Log events into the `events` ring buffer, rate-limited per CPU by a token bucket
 * (config.event_rate per second, config.event_burst deep) so a flood cannot fill the ring and
 * the cost of a flood stays one per-CPU map access per packet. */
#ifndef DIFW_LIB_EVENTS_H
#define DIFW_LIB_EVENTS_H
#include "common.h"
#include "parse.h"
#include "token_bucket.h"

#define FW_EV_DEFAULT_RATE 200
#define FW_EV_DEFAULT_BURST 400

DIFW_INLINE int ev_take_token(const struct fw_config *cfg, __u64 now)
{
	__u32 zero = 0;
	struct ev_budget *b = bpf_map_lookup_elem(&fw_ev_budget, &zero);
	if (!b)
		return 0;
	return token_take(&b->last_ns, &b->tokens, cfg->event_rate ? cfg->event_rate : FW_EV_DEFAULT_RATE,
			  cfg->event_burst ? cfg->event_burst : FW_EV_DEFAULT_BURST, now);
}

DIFW_INLINE void emit_event(const struct pkt *p, const struct fw_config *cfg, __u64 now, __u8 tag, __u8 chain,
			    __u8 verdict, __u32 rule, __u32 iif, __u32 oif)
{
	if (!ev_take_token(cfg, now)) {
		stat_inc(FW_STAT_EVENTS_LOST);
		return;
	}
	struct fw_event *e = bpf_ringbuf_reserve(&fw_events, sizeof(*e), 0);
	if (!e) {
		stat_inc(FW_STAT_EVENTS_LOST);
		return;
	}
	e->ts_ns = now;
	e->in_ifindex = iif;
	e->out_ifindex = oif;
	e->rule = rule;
	e->pkt_len = p->ip_len;
	e->family = p->family;
	e->proto = p->proto;
	e->tag = tag;
	e->chain = chain;
	e->verdict = verdict;
	e->tcp_flags = p->tcp_flags;
	e->sport = p->sport;
	e->dport = p->dport;
	__builtin_memcpy(e->src, p->src, 16);
	__builtin_memcpy(e->dst, p->dst, 16);
	bpf_ringbuf_submit(e, 0);
	stat_inc(FW_STAT_EVENTS);
}
#endif
