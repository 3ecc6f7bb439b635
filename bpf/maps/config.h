/* Map `config`: array of 3 struct fw_config.
 *
 * Entry 0 holds only `generation` (0 or 1): the generation the datapath uses right now.
 * Entries 1 and 2 hold the full configuration of generation 0 and 1. The table writer fills the
 * inactive generation's entry (and its tuples, keys and actions) and then flips entry 0 with a
 * single 4-byte store, so a packet always sees one complete configuration: an array-map update
 * is a memcpy without a lock, so the flip must be one aligned word, not a whole struct. */
#ifndef DIFW_MAP_CONFIG_H
#define DIFW_MAP_CONFIG_H
#include "types.h"

#define FW_CONFIG_ENTRIES 3
#define FW_CONFIG_ACTIVE 0

/* Chains (ufw's INPUT / OUTPUT / FORWARD user chains). */
#define FW_CHAIN_IN 0
#define FW_CHAIN_OUT 1
#define FW_CHAIN_FWD 2
/* A rule list = chain * 2 + (family == 6). */
#define FW_LISTS 6

/* Default policies; FW_POL_NONE is ufw's routed "disabled" (the kernel decides). */
#define FW_POL_NONE 0
#define FW_POL_ALLOW 1
#define FW_POL_DENY 2
#define FW_POL_REJECT 3

/* Log levels, as ufw: off, low, medium, high, full. */
#define FW_LOG_OFF 0
#define FW_LOG_LOW 1
#define FW_LOG_MEDIUM 2
#define FW_LOG_HIGH 3
#define FW_LOG_FULL 4

/* flags */
#define FW_CFG_NO_FIB 0x01 /* never look up routes: every inbound packet is for this host */

struct fw_config {
	__u32 generation;  /* entry 0 only: a serial bumped by every rule-set change; bit 0 is the
			    * active generation (the entry read is 1 + (generation & 1)) */
	__u8 enabled;      /* 0: pass everything (ufw disabled) */
	__u8 def_in;       /* FW_POL_* */
	__u8 def_out;
	__u8 def_routed;
	__u8 log_level;    /* FW_LOG_* */
	__u8 flags;        /* FW_CFG_* */
	__u16 ntuples[FW_LISTS]; /* active tuples per rule list */
	__u16 pad;
	__u32 event_rate;  /* events per second per CPU (token refill) */
	__u32 event_burst; /* bucket size */
};

#ifdef DIFW_BPF
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, FW_CONFIG_ENTRIES);
	__type(key, __u32);
	__type(value, struct fw_config);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} fw_config SEC(".maps");
#endif
#endif
