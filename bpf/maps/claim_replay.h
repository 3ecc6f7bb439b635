/* SPDX-License-Identifier: GPL-2.0 */
/*
 * claim_replay: the replay cache, a direct-mapped table of the MACs of claims this node
 * accepted. A claim's slot is a hash of its claimed fields (claim_replay_slot() in
 * lib/claim.h), so it can be loaded before the MAC is computed; a claim whose MAC already sits
 * in its slot is a replay. The MAC is a 64-bit PRF output over every claim field (node, epoch,
 * identity, ISN, peer ISN, ports, addresses, direction), so it identifies the claim; only
 * verified MACs are ever written, so forgeries cannot flush the table.
 *
 * Why not an LRU hash: an LRU insert under eviction pressure costs several hundred ns per SYN;
 * an array slot is one inlined lookup and one compare-and-swap. The price: a later claim that
 * lands in the same slot evicts an earlier one, so a claim stays detectable for the next n
 * accepted handshakes with probability exp(-n / CLAIM_REPLAY_SLOTS) (96% after 10k, 68% after
 * 100k), and for good once its key epoch is retired (docs/threat-model.md).
 */
#ifndef DIFW_MAPS_CLAIM_REPLAY_H
#define DIFW_MAPS_CLAIM_REPLAY_H

#define CLAIM_REPLAY_SLOTS (1u << 18) /* power of two; 2 MiB */

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, CLAIM_REPLAY_SLOTS);
	__type(key, __u32);
	__type(value, __u64); /* MAC of the last claim accepted in this slot, 0 = empty */
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} claim_replay SEC(".maps");

#endif
