/* Map `stats`: per-CPU array of __u64 counters, index FW_STAT_*. */
#ifndef DIFW_MAP_STATS_H
#define DIFW_MAP_STATS_H
#include "types.h"

#define FW_STAT_PASSED 0       /* accepted (any reason) */
#define FW_STAT_DROPPED 1      /* dropped (policy, rule, invalid, fragment) */
#define FW_STAT_REJECTED 2     /* answered with RST / ICMP unreachable */
#define FW_STAT_INVALID 3      /* conntrack INVALID or malformed */
#define FW_STAT_CT_HIT 4       /* ESTABLISHED / RELATED */
#define FW_STAT_CT_NEW 5       /* connections created */
#define FW_STAT_LIMITED 6      /* refused by a limit rule */
#define FW_STAT_FRAG_HIT 7
#define FW_STAT_FRAG_MISS 8    /* later fragment without a first one: dropped */
#define FW_STAT_EVENTS 9
#define FW_STAT_EVENTS_LOST 10 /* rate limited or ring full */
#define FW_STAT_DISABLED 11    /* passed because the firewall is disabled */
#define FW_STAT_NOT_IP 12      /* ARP and other non-IP frames (passed) */
#define FW_STAT_REJECT_FAIL 13 /* reply could not be built: dropped instead */
#define FW_STAT_FORWARDED 14   /* evaluated against route rules */
#define FW_STAT_COUNT 16

#ifdef DIFW_BPF
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, FW_STAT_COUNT);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} fw_stats SEC(".maps");
#endif
#endif
