/* Map `rule_tuples`: array of struct rule_tuple, one per rule "shape" (tuple-space search).
 *
 * Index = gen * FW_LISTS * FW_MAX_TUPLES + list * FW_MAX_TUPLES + i, i < config.ntuples[list].
 * A tuple says which packet fields a group of rules looks at (address prefix masks, port block
 * masks, protocol, interfaces). The datapath masks the packet with each active tuple of its
 * list and does one exact lookup in `rule_keys`; tuples are sorted by `min_rule`, so the walk
 * stops as soon as no later tuple can hold a rule earlier than the best match found. */
#ifndef DIFW_MAP_RULE_TUPLES_H
#define DIFW_MAP_RULE_TUPLES_H
#include "types.h"
#include "config.h"

/* Bound on shapes per rule list: the per-packet cost is one hash lookup per shape. */
#define FW_MAX_TUPLES 64
#define FW_TUPLE_ENTRIES (2 * FW_LISTS * FW_MAX_TUPLES)

struct rule_tuple {
	__u8 src_mask[16];  /* network order; IPv4 uses the first 4 bytes */
	__u8 dst_mask[16];
	__be16 sport_mask;
	__be16 dport_mask;
	__u8 match_proto;   /* 1: key carries the L4 protocol */
	__u8 match_iif;     /* 1: key carries the input ifindex */
	__u8 match_oif;     /* 1: key carries the output ifindex */
	__u8 pad;
	__u32 min_rule;     /* lowest rule index among the keys of this tuple */
};

#ifdef DIFW_BPF
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, FW_TUPLE_ENTRIES);
	__type(key, __u32);
	__type(value, struct rule_tuple);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} fw_tuples SEC(".maps");
#endif
#endif
