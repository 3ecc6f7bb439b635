/* SPDX-License-Identifier: GPL-2.0 */
/*
 * pod_config: the pod policy datapath's global state (ARRAY, one entry at index 0).
 * Written last by PodDatapath.apply (src/policy/netpol/datapath.ts): flipping `gen` switches
 * every lookup to the tables just written, atomically for each packet; `revision` changes on
 * every apply and makes conntrack entries of an older revision re-evaluate.
 */
#ifndef DIFW_MAPS_POD_CONFIG_H
#define DIFW_MAPS_POD_CONFIG_H

struct pod_config {
	__u32 gen;      /* 0 or 1: generation of the live endpoint / ipcache / policy entries */
	__u32 revision; /* bumped by every apply; 0 = never applied */
	__u32 flags;    /* reserved */
	__u32 _pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pod_config);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pod_config SEC(".maps");

#endif
