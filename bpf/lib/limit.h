/* ufw `limit`: per source address, reject a new connection when it is the 6th or later within
 * 30 seconds (see maps/limit.h for why one list per source). Returns 1 when over the limit. */
#ifndef DIFW_LIB_LIMIT_H
#define DIFW_LIB_LIMIT_H
#include "common.h"
#include "parse.h"

DIFW_INLINE void limit_stamp(struct limit_entry *e, __u64 now)
{
	__u32 i = e->next % FW_LIMIT_SLOTS;
	e->stamps[i] = now;
	e->next = (i + 1) % FW_LIMIT_SLOTS;
}

/* Global subprogram: verified once. */
__noinline int fw_limit_over(const struct pkt *p, __u64 now)
{
	if (!p)
		return 0;
	struct limit_key k = {};
	k.family = p->family;
	__builtin_memcpy(k.addr, p->src, 16);
	struct limit_entry *e = bpf_map_lookup_elem(&fw_limit, &k);
	if (!e) {
		struct limit_entry n = {};
		n.stamps[0] = now;
		n.next = 1;
		bpf_map_update_elem(&fw_limit, &k, &n, BPF_ANY);
		return 0; /* one stamp cannot reach the hit count */
	}
	limit_stamp(e, now); /* --set */
	/* Stamps are written in time order, so "6 within 30 s" holds exactly when the 6th newest
	 * (FW_LIMIT_HITS slots back from the next write position) is within the window. */
	__u32 i = (e->next + FW_LIMIT_SLOTS - FW_LIMIT_HITS) % FW_LIMIT_SLOTS;
	__u64 s = e->stamps[i];
	if (s && s <= now && now - s <= FW_LIMIT_WINDOW_NS) {
		limit_stamp(e, now); /* --update stamps the hit as well */
		return 1;
	}
	return 0;
}
#endif
