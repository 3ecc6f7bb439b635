/* Map `ev_budget`: per-CPU token bucket for events (1 entry). */
#ifndef DIFW_MAP_EV_BUDGET_H
#define DIFW_MAP_EV_BUDGET_H
#include "types.h"

struct ev_budget {
	__u64 last_ns;  /* last refill */
	__u64 tokens;
};

#ifdef DIFW_BPF
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ev_budget);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} fw_ev_budget SEC(".maps");
#endif
#endif
