/* Map `frag`: LRU hash of the verdicts of first fragments, so later fragments (which carry no
 * ports) get the same verdict. A later fragment without an entry is dropped. */
#ifndef DIFW_MAP_FRAG_H
#define DIFW_MAP_FRAG_H
#include "types.h"

#define FW_FRAG_ENTRIES 8192
#define FW_FRAG_TIMEOUT_NS (30ull * 1000000000ull) /* netfilter's reassembly timeout */

#define FW_FRAG_PASS 1
#define FW_FRAG_DROP 2

struct frag_key {
	__u8 family;
	__u8 proto;
	__u16 pad;
	__u32 id;      /* IPv4 id (16 bits) or IPv6 fragment identification, network order */
	__u8 src[16];
	__u8 dst[16];
};

struct frag_entry {
	__u64 expires_ns;
	__u8 verdict;  /* FW_FRAG_* */
	__u8 pad[7];
};

#ifdef DIFW_BPF
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, FW_FRAG_ENTRIES);
	__type(key, struct frag_key);
	__type(value, struct frag_entry);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} fw_frag SEC(".maps");
#endif
#endif
