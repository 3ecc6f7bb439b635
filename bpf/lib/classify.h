/* User-rule lookup by tuple-space search: one exact hash lookup per rule shape (tuple) of the
 * packet's rule list, keeping the lowest rule index (first match wins). The cost depends on
 * the number of shapes (at most FW_MAX_TUPLES per list), not on the number of rules. The walk
 * runs in bpf_loop so the verifier checks its body once. */
#ifndef DIFW_LIB_CLASSIFY_H
#define DIFW_LIB_CLASSIFY_H
#include "common.h"
#include "parse.h"

struct walk_ctx {
	__u32 src[4];
	__u32 dst[4];
	__u32 iif;
	__u32 oif;
	__u32 base;   /* first tuple index of the list in rule_tuples */
	__u32 best;   /* lowest rule index found so far, FW_NO_RULE if none */
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 gen;
	__u8 list;
	__u8 pad;
};

static long walk_tuple(__u32 i, void *data)
{
	struct walk_ctx *w = data;
	__u32 idx = w->base + i;
	struct rule_tuple *t = bpf_map_lookup_elem(&fw_tuples, &idx);
	if (!t || t->min_rule >= w->best)
		return 1; /* sorted by min_rule: nothing later can win */
	struct rule_key k = {};
	k.gen = w->gen;
	k.list = w->list;
	k.tuple = i;
	k.proto = t->match_proto ? w->proto : 0;
	k.sport = w->sport & t->sport_mask;
	k.dport = w->dport & t->dport_mask;
	k.iif = t->match_iif ? w->iif : 0;
	k.oif = t->match_oif ? w->oif : 0;
	__u32 *ks = (__u32 *)k.src, *kd = (__u32 *)k.dst;
	const __u32 *ms = (const __u32 *)t->src_mask, *md = (const __u32 *)t->dst_mask;
#pragma unroll
	for (int j = 0; j < 4; j++) {
		ks[j] = w->src[j] & ms[j];
		kd[j] = w->dst[j] & md[j];
	}
	__u32 *r = bpf_map_lookup_elem(&fw_keys, &k);
	if (r && *r < w->best)
		w->best = *r;
	return 0;
}

/* Returns the matching rule index or FW_NO_RULE. */
DIFW_INLINE __u32 classify(const struct pkt *p, const struct fw_config *cfg, __u32 gen, __u32 chain,
			   __u32 iif, __u32 oif)
{
	__u32 list = chain * 2 + (p->family == 6 ? 1 : 0);
	if (list >= FW_LISTS)
		return FW_NO_RULE;
	__u32 n = cfg->ntuples[list];
	if (n == 0)
		return FW_NO_RULE;
	if (n > FW_MAX_TUPLES)
		n = FW_MAX_TUPLES;
	struct walk_ctx w = {};
#pragma unroll
	for (int j = 0; j < 4; j++) {
		w.src[j] = p->src[j];
		w.dst[j] = p->dst[j];
	}
	w.iif = iif;
	w.oif = oif;
	w.base = (gen * FW_LISTS + list) * FW_MAX_TUPLES;
	w.best = FW_NO_RULE;
	w.sport = p->sport;
	w.dport = p->dport;
	w.proto = p->proto;
	w.gen = gen;
	w.list = list;
	bpf_loop(n, walk_tuple, &w, 0);
	return w.best;
}
#endif
