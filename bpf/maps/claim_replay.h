/* SPDX-License-Identifier: GPL-2.0 */
/*
 * claim_replay: LRU of claims this node accepted. A second packet with the same (node, epoch,
 * ISN, MAC, SYN/SYN-ACK) is a replay. LRU: under pressure the oldest claims are forgotten, so
 * the replay window of a claim is bounded by the cache span (65536 accepted handshakes) and by
 * the key epoch lifetime (docs/threat-model.md).
 */
#ifndef DIFW_MAPS_CLAIM_REPLAY_H
#define DIFW_MAPS_CLAIM_REPLAY_H

struct claim_replay_key {
	__u64 mac;
	__u32 isn;
	__u16 node_id;
	__u8 epoch;
	__u8 is_synack;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct claim_replay_key);
	__type(value, __u64); /* bpf_ktime_get_ns() of acceptance */
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} claim_replay SEC(".maps");

#endif
