/* SPDX-License-Identifier: GPL-2.0 */
/*
 * An IP address as 16 network-order bytes. IPv4 uses the IPv4-mapped IPv6 form
 * ::ffff:a.b.c.d, so one key type serves both families (and a v4-mapped AF_INET6 socket
 * produces the same bytes as an AF_INET one). Also the address encoding of the claim MAC input.
 */
#ifndef DIFW_MAPS_CLAIM_ADDR_H
#define DIFW_MAPS_CLAIM_ADDR_H

struct claim_addr {
	__u32 a[4]; /* network byte order, as on the wire */
};

#endif
