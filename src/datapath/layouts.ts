/**
 * TypeScript mirrors of the host-firewall map layouts in bpf/maps/*.h (one codec per C struct)
 * and of the constants the compiler and the table writer must agree on with the datapath.
 * test/unit/layout.test.ts compiles the headers with gcc and checks every size, offset and
 * constant listed in `LAYOUTS` / `CONSTANTS` against these definitions.
 */
import { struct, u8, u16, u32, u64, be16, be32, bytes, array, type Decoded, type StructCodec } from '../bpf/codec.js';

// ---- constants (bpf/maps/*.h) ----
export const FW_CONFIG_ENTRIES = 3;
export const FW_CONFIG_ACTIVE = 0;
export const FW_CHAIN_IN = 0;
export const FW_CHAIN_OUT = 1;
export const FW_CHAIN_FWD = 2;
export const FW_LISTS = 6;
export const FW_POL_NONE = 0;
export const FW_POL_ALLOW = 1;
export const FW_POL_DENY = 2;
export const FW_POL_REJECT = 3;
export const FW_LOG_OFF = 0;
export const FW_LOG_LOW = 1;
export const FW_LOG_MEDIUM = 2;
export const FW_LOG_HIGH = 3;
export const FW_LOG_FULL = 4;
export const FW_CFG_NO_FIB = 0x01;
export const FW_MAX_TUPLES = 64;
export const FW_TUPLE_ENTRIES = 2 * FW_LISTS * FW_MAX_TUPLES;
export const FW_MAX_KEYS = 262144;
export const FW_MAX_RULES = 16384;
export const FW_NO_RULE = 0xffffffff;
export const FW_ACT_ALLOW = 1;
export const FW_ACT_DENY = 2;
export const FW_ACT_REJECT = 3;
export const FW_ACT_LIMIT = 4;
export const FW_RLOG_NONE = 0;
export const FW_RLOG_NEW = 1;
export const FW_RLOG_ALL = 2;
export const FW_RJ_ICMP = 0;
export const FW_RJ_TCP_RST = 1;
export const FW_CT_ENTRIES = 65536;
export const CT_NEW = 1;
export const CT_SYN_RECV = 2;
export const CT_EST = 3;
export const CT_FIN = 4;
export const CT_CLOSE = 5;
export const CT_F_ORIG_A = 0x01;
export const CT_F_SEEN_REPLY = 0x02;
export const FW_LIMIT_SLOTS = 8;
export const FW_LIMIT_HITS = 6;
export const FW_FRAG_PASS = 1;
export const FW_FRAG_DROP = 2;
export const FW_EV_BLOCK = 1;
export const FW_EV_ALLOW = 2;
export const FW_EV_AUDIT = 3;
export const FW_EV_LIMIT_BLOCK = 4;
export const FW_EV_INVALID = 5;
export const FW_EV_LIMIT = 6;
export const FW_V_PASS = 1;
export const FW_V_DROP = 2;
export const FW_V_REJECT = 3;
export const FW_META_MAGIC = 0xd1f3a11d;
export const FW_REPLY_RST = 1;
export const FW_REPLY_ICMP = 2;
export const FW_SCRATCH_BYTES = 256;
export const FW_NF_SCRATCH_BYTES = 4096;
export const FW_NF_COPY = 256;

/** Per-CPU counters of map fw_stats, by index (FW_STAT_*). */
export const FW_STATS = [
  'passed',
  'dropped',
  'rejected',
  'invalid',
  'ct_hit',
  'ct_new',
  'limited',
  'frag_hit',
  'frag_miss',
  'events',
  'events_lost',
  'disabled',
  'not_ip',
  'reject_fail',
  'forwarded',
] as const;
export const FW_STAT_COUNT = 16;

// ---- structs ----
export const fwConfig = struct('fw_config', [
  ['generation', u32],
  ['enabled', u8],
  ['def_in', u8],
  ['def_out', u8],
  ['def_routed', u8],
  ['log_level', u8],
  ['flags', u8],
  ['ntuples', array(u16, FW_LISTS)],
  ['pad', u16],
  ['event_rate', u32],
  ['event_burst', u32],
] as const);
export type FwConfig = Decoded<typeof fwConfig>;

export const ruleTuple = struct('rule_tuple', [
  ['src_mask', bytes(16)],
  ['dst_mask', bytes(16)],
  ['sport_mask', be16],
  ['dport_mask', be16],
  ['match_proto', u8],
  ['match_iif', u8],
  ['match_oif', u8],
  ['pad', u8],
  ['min_rule', u32],
] as const);
export type RuleTuple = Decoded<typeof ruleTuple>;

export const ruleKey = struct('rule_key', [
  ['gen', u8],
  ['list', u8],
  ['proto', u8],
  ['pad', u8],
  ['tuple', u16],
  ['sport', be16],
  ['dport', be16],
  ['pad2', u16],
  ['iif', u32],
  ['oif', u32],
  ['src', bytes(16)],
  ['dst', bytes(16)],
] as const);
export type RuleKey = Decoded<typeof ruleKey>;

export const ruleAction = struct('rule_action', [
  ['action', u8],
  ['log', u8],
  ['reject', u8],
  ['pad', u8],
  ['number', u32],
] as const);
export type RuleAction = Decoded<typeof ruleAction>;

export const ctKey = struct('ct_key', [
  ['family', u8],
  ['proto', u8],
  ['port_a', be16],
  ['port_b', be16],
  ['pad', u16],
  ['addr_a', bytes(16)],
  ['addr_b', bytes(16)],
] as const);
export type CtKey = Decoded<typeof ctKey>;

export const ctEntry = struct('ct_entry', [
  ['expires_ns', u64],
  ['state', u8],
  ['flags', u8],
  ['ok_iif', u16],
  ['ok_serial', u32],
] as const);
export type CtEntry = Decoded<typeof ctEntry>;

export const limitKey = struct('limit_key', [
  ['family', u8],
  ['pad', bytes(3)],
  ['addr', bytes(16)],
] as const);

export const limitEntry = struct('limit_entry', [
  ['stamps', array(u64, FW_LIMIT_SLOTS)],
  ['next', u32],
  ['pad', u32],
] as const);

export const fragKey = struct('frag_key', [
  ['family', u8],
  ['proto', u8],
  ['pad', u16],
  ['id', be32],
  ['src', bytes(16)],
  ['dst', bytes(16)],
] as const);

export const fragEntry = struct('frag_entry', [
  ['expires_ns', u64],
  ['verdict', u8],
  ['pad', bytes(7)],
] as const);

export const fwEvent = struct('fw_event', [
  ['ts_ns', u64],
  ['in_ifindex', u32],
  ['out_ifindex', u32],
  ['rule', u32],
  ['pkt_len', u16],
  ['family', u8],
  ['proto', u8],
  ['tag', u8],
  ['chain', u8],
  ['verdict', u8],
  ['tcp_flags', u8],
  ['sport', be16],
  ['dport', be16],
  ['src', bytes(16)],
  ['dst', bytes(16)],
] as const);
export type FwEvent = Decoded<typeof fwEvent>;

export const evBudget = struct('ev_budget', [
  ['last_ns', u64],
  ['tokens', u64],
] as const);

export const fwXdpMeta = struct('fw_xdp_meta', [
  ['magic', u32],
  ['reply', u8],
  ['family', u8],
  ['l4off', u16],
] as const);

export const fwScratch = struct('fw_scratch', [['buf', bytes(FW_SCRATCH_BYTES)]] as const);
export const fwNfScratch = struct('fw_nf_scratch', [['buf', bytes(FW_NF_SCRATCH_BYTES)]] as const);

/** Every struct codec with the header that defines it (checked by test/unit/layout.test.ts). */
export const LAYOUTS: ReadonlyArray<{ header: string; codec: StructCodec<any> }> = [
  { header: 'config.h', codec: fwConfig },
  { header: 'rule_tuples.h', codec: ruleTuple },
  { header: 'rule_keys.h', codec: ruleKey },
  { header: 'rule_actions.h', codec: ruleAction },
  { header: 'ct.h', codec: ctKey },
  { header: 'ct.h', codec: ctEntry },
  { header: 'limit.h', codec: limitKey },
  { header: 'limit.h', codec: limitEntry },
  { header: 'frag.h', codec: fragKey },
  { header: 'frag.h', codec: fragEntry },
  { header: 'events.h', codec: fwEvent },
  { header: 'ev_budget.h', codec: evBudget },
  { header: 'xdp_meta.h', codec: fwXdpMeta },
  { header: 'scratch.h', codec: fwScratch },
  { header: 'nf_scratch.h', codec: fwNfScratch },
];

/** C macro name -> the value this module uses (checked against the headers). */
export const CONSTANTS: Readonly<Record<string, number>> = {
  FW_CONFIG_ENTRIES, FW_CONFIG_ACTIVE, FW_CHAIN_IN, FW_CHAIN_OUT, FW_CHAIN_FWD, FW_LISTS,
  FW_POL_NONE, FW_POL_ALLOW, FW_POL_DENY, FW_POL_REJECT,
  FW_LOG_OFF, FW_LOG_LOW, FW_LOG_MEDIUM, FW_LOG_HIGH, FW_LOG_FULL, FW_CFG_NO_FIB,
  FW_MAX_TUPLES, FW_TUPLE_ENTRIES, FW_MAX_KEYS, FW_MAX_RULES, FW_NO_RULE,
  FW_ACT_ALLOW, FW_ACT_DENY, FW_ACT_REJECT, FW_ACT_LIMIT, FW_RLOG_NONE, FW_RLOG_NEW, FW_RLOG_ALL,
  FW_RJ_ICMP, FW_RJ_TCP_RST, FW_CT_ENTRIES, CT_NEW, CT_SYN_RECV, CT_EST, CT_FIN, CT_CLOSE,
  CT_F_ORIG_A, CT_F_SEEN_REPLY, FW_LIMIT_SLOTS, FW_LIMIT_HITS, FW_FRAG_PASS, FW_FRAG_DROP,
  FW_EV_BLOCK, FW_EV_ALLOW, FW_EV_AUDIT, FW_EV_LIMIT_BLOCK, FW_EV_INVALID, FW_EV_LIMIT,
  FW_V_PASS, FW_V_DROP, FW_V_REJECT, FW_META_MAGIC, FW_REPLY_RST, FW_REPLY_ICMP,
  FW_SCRATCH_BYTES, FW_NF_SCRATCH_BYTES, FW_NF_COPY, FW_STAT_COUNT,
  ...Object.fromEntries(FW_STATS.map((s, i) => [`FW_STAT_${s.toUpperCase()}`, i])),
};

/** Headers (in bpf/maps/) that hold the layouts above. */
export const LAYOUT_HEADERS = [...new Set(LAYOUTS.map((l) => l.header)), 'stats.h'];
