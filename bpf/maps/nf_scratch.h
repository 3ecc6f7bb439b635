/* Map `fw_nf_scratch`: per-CPU copy of the first bytes of a packet for nf_output, which has no
 * direct packet access. Large enough for every offset the shared parser may touch (it bounds
 * offsets to 1024 + headers), though only FW_NF_COPY bytes are copied. Not pinned. */
#ifndef DIFW_MAP_NF_SCRATCH_H
#define DIFW_MAP_NF_SCRATCH_H
#include "types.h"

#define FW_NF_SCRATCH_BYTES 4096
#define FW_NF_COPY 256

struct fw_nf_scratch {
	__u8 buf[FW_NF_SCRATCH_BYTES];
};

#ifdef DIFW_BPF
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct fw_nf_scratch);
} fw_nf_scratch SEC(".maps");
#endif
#endif
