/* Map `rule_actions`: array of struct rule_action, index gen * FW_MAX_RULES + rule index. */
#ifndef DIFW_MAP_RULE_ACTIONS_H
#define DIFW_MAP_RULE_ACTIONS_H
#include "types.h"

#define FW_MAX_RULES 16384
#define FW_ACTION_ENTRIES (2 * FW_MAX_RULES)
#define FW_NO_RULE 0xffffffffu

#define FW_ACT_ALLOW 1
#define FW_ACT_DENY 2
#define FW_ACT_REJECT 3
#define FW_ACT_LIMIT 4

/* rule_action.log */
#define FW_RLOG_NONE 0
#define FW_RLOG_NEW 1 /* ufw `log`: new connections */
#define FW_RLOG_ALL 2 /* ufw `log-all`: every packet that reaches the rule */

/* rule_action.reject: how a reject answers (ufw: tcp-reset only for `proto tcp` rules and
 * for the tcp half of a protocol-less rule with a port; icmp port-unreachable otherwise). */
#define FW_RJ_ICMP 0
#define FW_RJ_TCP_RST 1 /* RST when the packet is TCP, else ICMP */

struct rule_action {
	__u8 action;   /* FW_ACT_* */
	__u8 log;      /* FW_RLOG_* */
	__u8 reject;   /* FW_RJ_* */
	__u8 pad;
	__u32 number;  /* the rule's 1-based position in its ufw list (for events) */
};

#ifdef DIFW_BPF
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, FW_ACTION_ENTRIES);
	__type(key, __u32);
	__type(value, struct rule_action);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} fw_actions SEC(".maps");
#endif
#endif
