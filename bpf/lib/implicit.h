/* ufw's before-rules (/etc/ufw/before.rules, before6.rules) that accept traffic regardless of
 * the user rules. Evaluated after the conntrack checks, in ufw's order; the ICMP error types
 * listed there only matter when RELATED (otherwise conntrack already made them INVALID). */
#ifndef DIFW_LIB_IMPLICIT_H
#define DIFW_LIB_IMPLICIT_H
#include "common.h"
#include "parse.h"

DIFW_INLINE int is_linklocal6(const __u32 *a)
{
	return (bpf_ntohl(a[0]) & 0xffc00000) == 0xfe800000; /* fe80::/10 */
}

DIFW_INLINE int is_icmp_of_family(const struct pkt *p)
{
	return (p->family == 4 && p->proto == IPPROTO_ICMP) || (p->family == 6 && p->proto == IPPROTO_ICMPV6);
}

/* ICMPv6 types ufw6-before-input / -output accept (after the INVALID check on input). */
DIFW_INLINE int icmp6_allowed(const struct pkt *p)
{
	__u8 t = p->icmp_type;
	if (t == 1 || t == 2 || t == 3 || t == 4 || t == 128)
		return 1;
	if (t == 133 || t == 134 || t == 135 || t == 136 || t == 141 || t == 142 || t == 148 || t == 149)
		return p->ttl == 255;
	if (t == 130 || t == 131 || t == 132 || t == 143)
		return is_linklocal6(p->src);
	if (t == 151 || t == 152 || t == 153)
		return is_linklocal6(p->src) && p->ttl == 1;
	return 0;
}

/* ufw-before-input after the conntrack rules. */
DIFW_INLINE int implicit_input(const struct pkt *p)
{
	if (!p->has_l4)
		return 0;
	if (p->family == 4) {
		if (p->proto == IPPROTO_ICMP) {
			__u8 t = p->icmp_type;
			return t == 3 || t == 11 || t == 12 || t == 8;
		}
		if (p->proto == IPPROTO_UDP) {
			__u32 d = bpf_ntohl(p->dst[0]);
			__u16 sp = bpf_ntohs(p->sport), dp = bpf_ntohs(p->dport);
			if (sp == 67 && dp == 68)
				return 1; /* DHCP client */
			if (d == 0xe00000fb && dp == 5353)
				return 1; /* mDNS */
			if (d == 0xeffffffa && dp == 1900)
				return 1; /* UPnP */
		}
		return 0;
	}
	if (p->proto == IPPROTO_ICMPV6) {
		__u8 t = p->icmp_type;
		if (t >= 144 && t <= 147)
			return 1;
		return icmp6_allowed(p);
	}
	if (p->proto == IPPROTO_UDP) {
		__u16 sp = bpf_ntohs(p->sport), dp = bpf_ntohs(p->dport);
		if (sp == 547 && dp == 546 && is_linklocal6(p->src) && is_linklocal6(p->dst))
			return 1; /* DHCPv6 client */
		__u32 d0 = bpf_ntohl(p->dst[0]);
		if (d0 == 0xff020000 && p->dst[1] == 0 && p->dst[2] == 0) {
			__u32 d3 = bpf_ntohl(p->dst[3]);
			if (d3 == 0xfb && dp == 5353)
				return 1;
			if (d3 == 0x0f && dp == 1900)
				return 1;
		}
	}
	return 0;
}

/* ufw-before-output (IPv6 only: the IPv4 chain has just loopback and conntrack). */
DIFW_INLINE int implicit_output(const struct pkt *p)
{
	if (p->family != 6 || p->proto != IPPROTO_ICMPV6 || !p->has_l4)
		return 0;
	return p->icmp_type == 129 || icmp6_allowed(p);
}

/* ufw-before-forward. */
DIFW_INLINE int implicit_forward(const struct pkt *p)
{
	if (!p->has_l4 || !is_icmp_of_family(p))
		return 0;
	__u8 t = p->icmp_type;
	if (p->family == 4)
		return t == 3 || t == 11 || t == 12 || t == 8;
	return t == 1 || t == 2 || t == 3 || t == 4 || t == 128 || t == 129;
}

/* ufw-after-input sends these to the policy without logging (NetBIOS, DHCP, broadcast). */
DIFW_INLINE int after_input_quiet(const struct pkt *p)
{
	__u16 dp = bpf_ntohs(p->dport);
	if (p->proto == IPPROTO_UDP && (dp == 137 || dp == 138))
		return 1;
	if (p->proto == IPPROTO_TCP && (dp == 139 || dp == 445))
		return 1;
	if (p->proto == IPPROTO_UDP) {
		if (p->family == 4 && (dp == 67 || dp == 68))
			return 1;
		if (p->family == 6 && (dp == 546 || dp == 547))
			return 1;
	}
	if (p->family == 4 && p->dst[0] == 0xffffffff)
		return 1;
	return 0;
}
#endif
