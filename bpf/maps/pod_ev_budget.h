/* SPDX-License-Identifier: GPL-2.0 */
/*
 * pod_ev_budget: per-CPU token bucket for pod_events (one entry). A flood of dropped packets (a
 * scan of an isolated pod, a misbehaving client) must not turn into a flood of events: the agent
 * would spend more on logging them than the kernel on dropping them. Each CPU may emit
 * POD_EV_RATE events per second, POD_EV_BURST at once; what the bucket refuses is counted in
 * `lost` (PodDatapath.eventsLost(), the lab agent's /v1/health).
 * Pinned by name with the other pod maps; written by the programs only.
 */
#ifndef DIFW_MAPS_POD_EV_BUDGET_H
#define DIFW_MAPS_POD_EV_BUDGET_H

#define POD_EV_RATE 1000  /* events per second per CPU */
#define POD_EV_BURST 1000 /* bucket depth */

struct pod_ev_budget {
	__u64 last_ns; /* last refill */
	__u64 tokens;
	__u64 lost;    /* events refused (no token, or the ring buffer full) */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pod_ev_budget);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pod_ev_budget SEC(".maps");

#endif
