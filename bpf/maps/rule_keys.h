/* Map `rule_keys`: hash struct rule_key -> __u32 rule index (the lowest rule with that key).
 *
 * Every rule is expanded into exact keys under its tuple: the packet fields masked by the
 * tuple's masks, the protocol/interfaces or 0 when the tuple does not look at them. Port ranges
 * and lists become aligned power-of-two blocks. `gen` keeps two rule sets apart while one is
 * being replaced. */
#ifndef DIFW_MAP_RULE_KEYS_H
#define DIFW_MAP_RULE_KEYS_H
#include "types.h"

/* Both generations live in the map during an update. */
#define FW_MAX_KEYS 262144

struct rule_key {
	__u8 gen;
	__u8 list;     /* chain * 2 + (family == 6) */
	__u8 proto;    /* 0 unless the tuple matches the protocol */
	__u8 pad;
	__u16 tuple;   /* tuple index within the list */
	__be16 sport;  /* masked */
	__be16 dport;  /* masked */
	__u16 pad2;
	__u32 iif;     /* 0 unless the tuple matches the input interface */
	__u32 oif;     /* 0 unless the tuple matches the output interface */
	__u8 src[16];  /* masked; IPv4 in the first 4 bytes */
	__u8 dst[16];
};

#ifdef DIFW_BPF
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, FW_MAX_KEYS);
	__uint(map_flags, BPF_F_NO_PREALLOC); /* memory follows the rule count */
	__type(key, struct rule_key);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} fw_keys SEC(".maps");
#endif
#endif
