/* Fragments: the first fragment is classified with its ports and its verdict remembered under
 * (family, protocol, id, src, dst); later fragments reuse it, and are dropped without one
 * (out-of-order delivery where a later fragment arrives first is therefore dropped). */
#ifndef DIFW_LIB_FRAG_H
#define DIFW_LIB_FRAG_H
#include "common.h"
#include "parse.h"

DIFW_INLINE void frag_key_of(const struct pkt *p, struct frag_key *k)
{
	k->family = p->family;
	k->proto = p->proto;
	k->id = p->frag_id;
	__builtin_memcpy(k->src, p->src, 16);
	__builtin_memcpy(k->dst, p->dst, 16);
}

/* Out of line (as frag_verdict): keeps the key off the caller's stack frame. */
static __noinline int frag_remember(const struct pkt *p, __u8 verdict, __u64 now)
{
	struct frag_key k = {};
	frag_key_of(p, &k);
	struct frag_entry e = {};
	e.expires_ns = now + FW_FRAG_TIMEOUT_NS;
	e.verdict = verdict;
	return bpf_map_update_elem(&fw_frag, &k, &e, BPF_ANY);
}

/* FW_FRAG_PASS / FW_FRAG_DROP for a later fragment. */
static __noinline __u8 frag_verdict(const struct pkt *p, __u64 now)
{
	struct frag_key k = {};
	frag_key_of(p, &k);
	struct frag_entry *e = bpf_map_lookup_elem(&fw_frag, &k);
	if (e && e->expires_ns > now) {
		stat_inc(FW_STAT_FRAG_HIT);
		return e->verdict;
	}
	stat_inc(FW_STAT_FRAG_MISS);
	return FW_FRAG_DROP;
}
#endif
