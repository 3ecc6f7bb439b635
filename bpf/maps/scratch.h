/* Map `fw_scratch`: per-CPU scratch buffer for building reject replies (the BPF stack is too
 * small to hold it next to the firewall's own state). Not pinned: private to each object. */
#ifndef DIFW_MAP_SCRATCH_H
#define DIFW_MAP_SCRATCH_H
#include "types.h"

#define FW_SCRATCH_BYTES 256

struct fw_scratch {
	__u8 buf[FW_SCRATCH_BYTES];
};

#ifdef DIFW_BPF
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct fw_scratch);
} fw_scratch SEC(".maps");
#endif
#endif
