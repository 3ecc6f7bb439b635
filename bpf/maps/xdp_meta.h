/* Not a map: the 8 bytes of XDP metadata by which xdp_ingress asks tc_ingress to answer a
 * rejected packet (XDP_TX cannot be used on veth whose peer has no XDP program). */
#ifndef DIFW_MAP_XDP_META_H
#define DIFW_MAP_XDP_META_H
#include "types.h"

#define FW_META_MAGIC 0xd1f3a11du

#define FW_REPLY_RST 1
#define FW_REPLY_ICMP 2

struct fw_xdp_meta {
	__u32 magic;
	__u8 reply;   /* FW_REPLY_* */
	__u8 family;
	__u16 l4off;  /* L4 header offset from the start of the frame */
};
#endif
