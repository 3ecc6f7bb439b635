/* SPDX-License-Identifier: GPL-2.0 */
/*
 * claim_peers: destination address (a pod or node IP) -> node id hosting it. The sender uses it
 * to pick the pairwise key; a destination not listed is not a cluster member and gets no claim.
 */
#ifndef DIFW_MAPS_CLAIM_PEERS_H
#define DIFW_MAPS_CLAIM_PEERS_H

#include "maps/claim_addr.h"

struct claim_peer {
	__u16 node_id;
	__u16 _pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct claim_addr);
	__type(value, struct claim_peer);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} claim_peers SEC(".maps");

#endif
