/* Map `limit`: LRU hash, per source address, of the recent new-connection timestamps that ufw's
 * `limit` rules count. ufw uses `-m recent` without a list name, so all limit rules share one
 * list per source address (the DEFAULT list): so does this map. Over the limit = 6 or more
 * stamps in the last 30 s (the current one included); a rejected attempt adds a stamp too,
 * like `--update`. Eight slots suffice: stamps are added in time order, so "6 in 30 s" only
 * depends on the 6 newest. */
#ifndef DIFW_MAP_LIMIT_H
#define DIFW_MAP_LIMIT_H
#include "types.h"

#define FW_LIMIT_ENTRIES 16384
#define FW_LIMIT_SLOTS 8
#define FW_LIMIT_HITS 6
#define FW_LIMIT_WINDOW_NS (30ull * 1000000000ull)

struct limit_key {
	__u8 family;
	__u8 pad[3];
	__u8 addr[16];
};

struct limit_entry {
	__u64 stamps[FW_LIMIT_SLOTS]; /* fw_now() (coarse monotonic); 0 = empty */
	__u32 next;                   /* slot for the next stamp (mod FW_LIMIT_SLOTS) */
	__u32 pad;
};

#ifdef DIFW_BPF
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, FW_LIMIT_ENTRIES);
	__type(key, struct limit_key);
	__type(value, struct limit_entry);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} fw_limit SEC(".maps");
#endif
#endif
