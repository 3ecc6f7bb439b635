/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Header bytes of a TC skb: straight from the linear data when they are there (always for the
 * headers of a packet built on this machine), else through bpf_skb_load_bytes (a helper call,
 * about 15 ns), so a non-linear skb needs no pull. Used by the pod policy parser and the claim
 * verifier.
 */
#ifndef DIFW_LIB_SKB_LOAD_H
#define DIFW_LIB_SKB_LOAD_H

#define SKB_LOAD_MAX_OFF 0x200 /* direct reads start below this offset (verifier bound) */

/* Copy len bytes at off into dst. Returns 0, or < 0 when the packet is too short. */
static __always_inline int skb_load(struct __sk_buff *skb, __u32 off, void *dst, const __u32 len)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	__u8 *src = data + (off & (SKB_LOAD_MAX_OFF - 1));

	if (off < SKB_LOAD_MAX_OFF && (void *)(src + len) <= end) {
		__builtin_memcpy(dst, src, len);
		return 0;
	}
	return bpf_skb_load_bytes(skb, off, dst, len);
}

#endif
