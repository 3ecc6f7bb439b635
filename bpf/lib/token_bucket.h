/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The token bucket behind both event budgets: the host firewall's (fw_ev_budget, lib/events.h)
 * and the pod datapath's (pod_ev_budget, tc_pod.bpf.c). Per-CPU state, so no atomics.
 */
#ifndef DIFW_LIB_TOKEN_BUCKET_H
#define DIFW_LIB_TOKEN_BUCKET_H

/* Refill *tokens at `rate` per second (rate > 0) up to `burst`, then take one: 1, or 0 if none. */
static __always_inline int token_take(__u64 *last_ns, __u64 *tokens, __u64 rate, __u64 burst, __u64 now)
{
	__u64 step = 1000000000ull / rate;
	__u64 el = now - *last_ns;

	if (el >= step) {
		__u64 t = *tokens + el / step;

		*tokens = t > burst ? burst : t;
		*last_ns = now;
	}
	if (*tokens == 0)
		return 0;
	*tokens -= 1;
	return 1;
}

#endif
