/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The policy verdict: a fixed number of hash lookups, independent of how many policies, rules
 * or identities exist. For one direction at one endpoint the bits of
 *   peer  in {the peer's identity, any (0), the address's CIDR identity (if bound)}
 *   x port in {exact port, its 256-port block, any port of the protocol, any protocol}
 * are OR-ed (at most 12 lookups), then decided: deny wins; an isolated direction needs an allow.
 * The endpoint's `lookups` mask (maps/pod_endpoints.h) skips the kinds of row it has none of, so
 * a pod whose policies name peers and exact ports costs one or two lookups, not twelve.
 * src/policy/netpol/compile.ts (TableIndex.bits, decide) is the TypeScript twin.
 */
#ifndef DIFW_LIB_POD_POLICY_H
#define DIFW_LIB_POD_POLICY_H

#define POD_DIR_INGRESS 0
#define POD_DIR_EGRESS 1

static __always_inline __u32 pod_bits_one(struct pod_policy_key *k)
{
	struct pod_policy_val *v = bpf_map_lookup_elem(&pod_policy, k);
	return v ? v->bits : 0;
}

static __always_inline __u32 pod_bits_peer(__u32 gen, const struct pod_ep_val *ep, __u8 dir, __u32 peer, __u8 proto,
					   __u16 port)
{
	struct pod_policy_key k = {};
	__u8 base = (dir & 1) | ((gen & 1) << 7);
	__u32 has = ep->lookups;
	__u32 b = 0;

	k.ep = ep->ep;
	k.peer = peer;
	k.proto = proto;
	if (has & POD_LK_BIT(dir, peer, POD_LK_EXACT)) {
		k.flags = base | (POD_PK_EXACT << 1);
		k.port = port;
		b |= pod_bits_one(&k);
	}
	if (has & POD_LK_BIT(dir, peer, POD_LK_BLOCK)) {
		k.flags = base | (POD_PK_BLOCK << 1);
		k.port = port >> POD_BLOCK_SHIFT;
		b |= pod_bits_one(&k);
	}
	k.flags = base | (POD_PK_ANY << 1);
	k.port = 0;
	if (has & POD_LK_BIT(dir, peer, POD_LK_ANYPORT))
		b |= pod_bits_one(&k);
	k.proto = 0;
	if (has & POD_LK_BIT(dir, peer, POD_LK_ANYPROTO))
		b |= pod_bits_one(&k);
	return b;
}

static __always_inline __u32 pod_bits(__u32 gen, const struct pod_ep_val *ep, __u8 dir, __u32 sel, __u32 cidr, __u8 proto,
				      __u16 port)
{
	__u32 b = pod_bits_peer(gen, ep, dir, sel, proto, port);
	if (sel)
		b |= pod_bits_peer(gen, ep, dir, 0, proto, port);
	if (cidr)
		b |= pod_bits_peer(gen, ep, dir, cidr, proto, port);
	return b;
}

/* 1 = drop. *audit set when it passes but audit-mode policies would have dropped it. */
static __always_inline int pod_decide(__u32 epflags, __u8 dir, __u32 bits, int *audit)
{
	int iso_e = (epflags & (dir == POD_DIR_INGRESS ? POD_ISO_INGRESS : POD_ISO_EGRESS)) != 0;
	int iso_a = (epflags & (dir == POD_DIR_INGRESS ? POD_ISO_AUDIT_INGRESS : POD_ISO_AUDIT_EGRESS)) != 0;
	int drop = (bits & POD_B_DENY) || (iso_e && !(bits & POD_B_ALLOW));
	int drop_all = (bits & (POD_B_DENY | POD_B_AUDIT_DENY)) ||
		       ((iso_e || iso_a) && !(bits & (POD_B_ALLOW | POD_B_AUDIT_ALLOW)));

	*audit = !drop && drop_all;
	return drop;
}

#endif
