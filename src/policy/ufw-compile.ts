/**
 * ufw rules -> host-firewall datapath tables (tuple-space search).
 *
 * Every rule is split into exact-match keys grouped by "shape": (rule list, source prefix
 * length, destination prefix length, source-port block length, destination-port block length,
 * protocol matched?, input interface matched?, output interface matched?). One shape becomes
 * one `struct rule_tuple` (the masks); each key of the shape becomes one `rule_keys` entry whose
 * value is the lowest rule index with that key. At run time the datapath masks the packet with
 * each tuple of its list, does one hash lookup per tuple and keeps the smallest rule index:
 * ufw's first match, at a cost that grows with the number of shapes, not of rules.
 *
 * ufw semantics carried here:
 *   - `proto any` with a port means tcp and udp (ufw emits both), without a port any protocol;
 *   - reject answers with a TCP RST for `proto tcp` rules and for the tcp half of a protocol-less
 *     rule with a port; with ICMP port-unreachable otherwise (backend_iptables / common.py);
 *   - port ranges and lists become aligned power-of-two blocks (a range needs at most 30);
 *   - a rule naming an interface that does not exist yet compiles to no keys: it cannot match
 *     until the interface appears and the caller recompiles with the new resolver.
 *
 * Limits (DIFW_E_CAPACITY): FW_MAX_TUPLES shapes per list, FW_MAX_RULES rules, FW_MAX_KEYS/2
 * keys (both generations must fit during an update).
 */
import { DifwError } from '../errors.js';
import type { FirewallState, Rule, Policy, LogLevel } from '../ufw/model.js';
import { parseAddr } from './netpol/cidr.js';
import {
  FW_ACT_ALLOW, FW_ACT_DENY, FW_ACT_LIMIT, FW_ACT_REJECT, FW_CHAIN_FWD, FW_CHAIN_IN, FW_CHAIN_OUT, FW_LISTS,
  FW_MAX_KEYS, FW_MAX_RULES, FW_MAX_TUPLES, FW_POL_ALLOW, FW_POL_DENY, FW_POL_NONE, FW_POL_REJECT, FW_RJ_ICMP,
  FW_RJ_TCP_RST, FW_RLOG_ALL, FW_RLOG_NEW, FW_RLOG_NONE, FW_LOG_OFF, FW_LOG_LOW, FW_LOG_MEDIUM, FW_LOG_HIGH,
  FW_LOG_FULL, FW_CFG_NO_FIB,
  type FwConfig, type RuleAction, type RuleKey, type RuleTuple,
} from '../datapath/layouts.js';

export interface CompileOptions {
  /** Interface name -> ifindex, undefined when the interface does not exist (yet). */
  ifindex: (name: string) => number | undefined;
  /** Never look routes up: treat every inbound packet as addressed to this host (tests). */
  noFib?: boolean;
  /** Event budget per CPU (events/s and burst); 0 = the datapath's defaults. */
  eventRate?: number;
  eventBurst?: number;
}

export interface CompiledTuple {
  list: number;
  /** Position within the list (sorted by min_rule). */
  index: number;
  value: RuleTuple;
}

export interface CompiledKey {
  /** `gen` is filled in by the table writer. */
  key: RuleKey;
  rule: number;
}

export interface CompiledFirewall {
  /** Generation-independent configuration (`generation` and `ntuples` as compiled). */
  config: FwConfig;
  tuples: CompiledTuple[];
  keys: CompiledKey[];
  /** Indexed by rule index. */
  actions: RuleAction[];
  summary: { rules: number; tuples: number; keys: number; tuplesPerList: number[]; unresolvedInterfaces: string[] };
}

export const LIST_NAMES = ['input IPv4', 'input IPv6', 'output IPv4', 'output IPv6', 'route IPv4', 'route IPv6'];

const PROTOCOLS: Record<string, number> = { tcp: 6, udp: 17, ipv6: 41, esp: 50, ah: 51, igmp: 2, gre: 47, vrrp: 112, icmp: 1, ipv6_icmp: 58, icmpv6: 58 };

const POLICY: Record<Policy | 'disabled', number> = { allow: FW_POL_ALLOW, deny: FW_POL_DENY, reject: FW_POL_REJECT, disabled: FW_POL_NONE };
const LOGLEVEL: Record<LogLevel, number> = { off: FW_LOG_OFF, low: FW_LOG_LOW, medium: FW_LOG_MEDIUM, high: FW_LOG_HIGH, full: FW_LOG_FULL };
const ACTION = { allow: FW_ACT_ALLOW, deny: FW_ACT_DENY, reject: FW_ACT_REJECT, limit: FW_ACT_LIMIT } as const;

/** An aligned port block: `value` with the low (16 - plen) bits free. */
export interface PortBlock {
  value: number;
  plen: number;
}

/** Split [lo, hi] into the fewest aligned power-of-two blocks (at most 30 for 16-bit ports). */
export function portBlocks(lo: number, hi: number): PortBlock[] {
  const out: PortBlock[] = [];
  let a = lo;
  while (a <= hi) {
    let k = 0;
    while (k < 16 && a % (1 << (k + 1)) === 0 && a + (1 << (k + 1)) - 1 <= hi) k++;
    out.push({ value: a, plen: 16 - k });
    a += 1 << k;
  }
  return out;
}

/** ufw's port spec ('any', '22', '1000:2000', '22,80,1000:2000') -> blocks. */
export function parsePorts(spec: string): PortBlock[] {
  if (spec === 'any' || spec === '') return [{ value: 0, plen: 0 }];
  const out: PortBlock[] = [];
  for (const part of spec.split(',')) {
    const m = /^(\d+)(?::(\d+))?$/.exec(part.trim());
    if (!m) throw new DifwError('DIFW_E_POLICY', `Cannot compile port specification '${spec}'`);
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (lo < 1 || hi > 65535 || lo > hi) throw new DifwError('DIFW_E_POLICY', `Cannot compile port range '${part}'`);
    out.push(...portBlocks(lo, hi));
  }
  return out;
}

const portMask = (plen: number) => (plen === 0 ? 0 : (0xffff << (16 - plen)) & 0xffff);

export interface Prefix {
  bytes: Buffer; // 16 bytes, masked; IPv4 in the first 4
  plen: number;
}

/** 'any', an address or a CIDR of the given family -> masked 16-byte prefix. */
export function parsePrefix(spec: string, family: 4 | 6): Prefix {
  if (spec === 'any' || spec === '' || spec === '0.0.0.0/0' || spec === '::/0') return { bytes: Buffer.alloc(16), plen: 0 };
  const [ip, len, extra] = spec.split('/');
  const a = ip === undefined || extra !== undefined ? undefined : parseAddr(ip);
  if (!a || a.v4 !== (family === 4)) throw new DifwError('DIFW_E_POLICY', `Cannot compile address '${spec}' into an IPv${family} rule`);
  const max = family === 4 ? 32 : 128;
  const plen = len === undefined ? max : Number(len);
  if (!Number.isInteger(plen) || plen < 0 || plen > max || (len !== undefined && !/^\d+$/.test(len))) throw new DifwError('DIFW_E_POLICY', `Cannot compile prefix length in '${spec}'`);
  const bytes = Buffer.alloc(16);
  const width = family === 4 ? 4 : 16;
  for (let i = 0; i < width; i++) bytes[i] = Number((a.addr >> BigInt(8 * (width - 1 - i))) & 0xffn);
  return { bytes: maskBytes(bytes, plen), plen };
}

export function prefixMask(plen: number): Buffer {
  const m = Buffer.alloc(16);
  for (let i = 0; i < 16; i++) {
    const bits = Math.max(0, Math.min(8, plen - i * 8));
    m[i] = bits === 0 ? 0 : (0xff << (8 - bits)) & 0xff;
  }
  return m;
}

function maskBytes(b: Buffer, plen: number): Buffer {
  const m = prefixMask(plen);
  const out = Buffer.alloc(16);
  for (let i = 0; i < 16; i++) out[i] = b[i]! & m[i]!;
  return out;
}

function protocolNumber(p: string): number | undefined {
  if (p === 'any') return undefined;
  const n = PROTOCOLS[p.toLowerCase()];
  if (n !== undefined) return n;
  if (/^\d+$/.test(p) && Number(p) <= 255) return Number(p);
  throw new DifwError('DIFW_E_POLICY', `Cannot compile protocol '${p}'`);
}

interface Shape {
  list: number;
  srcPlen: number;
  dstPlen: number;
  spPlen: number;
  dpPlen: number;
  proto: boolean;
  iif: boolean;
  oif: boolean;
  minRule: number;
  /** key string -> [key without tuple index, rule] */
  keys: Map<string, { key: RuleKey; rule: number }>;
}

export function chainOf(r: Rule): number {
  if (r.forward) return FW_CHAIN_FWD;
  return r.direction === 'in' ? FW_CHAIN_IN : FW_CHAIN_OUT;
}

/** Compile the whole firewall state. */
export function compileFirewall(state: FirewallState, opts: CompileOptions): CompiledFirewall {
  const lists: Array<{ rules: Rule[]; family: 4 | 6 }> = [
    { rules: state.rules, family: 4 },
    { rules: state.rules6, family: 6 },
  ];
  const total = state.rules.length + state.rules6.length;
  if (total > FW_MAX_RULES) throw new DifwError('DIFW_E_CAPACITY', `Cannot load ${total} rules: the datapath holds at most ${FW_MAX_RULES}`);

  const shapes = new Map<string, Shape>();
  const actions: RuleAction[] = [];
  const unresolved = new Set<string>();
  let keyCount = 0;
  let index = 0;

  for (const { rules, family } of lists) {
    for (const r of rules) {
      const ruleIndex = index++;
      const proto = protocolNumber(r.protocol);
      const hasPorts = r.sport !== 'any' || r.dport !== 'any';
      actions.push({
        action: ACTION[r.action],
        log: r.logtype === 'log-all' ? FW_RLOG_ALL : r.logtype === 'log' ? FW_RLOG_NEW : FW_RLOG_NONE,
        reject: r.protocol === 'tcp' || (r.protocol === 'any' && hasPorts) ? FW_RJ_TCP_RST : FW_RJ_ICMP,
        pad: 0,
        number: ruleIndex + 1,
      });
      const chain = chainOf(r);
      const list = chain * 2 + (family === 6 ? 1 : 0);
      let iif = 0;
      let oif = 0;
      let missing = false;
      for (const [name, set] of [
        [r.ifaceIn, (v: number) => (iif = v)],
        [r.ifaceOut, (v: number) => (oif = v)],
      ] as const) {
        if (!name) continue;
        const ix = opts.ifindex(name);
        if (ix === undefined || ix <= 0) {
          unresolved.add(name);
          missing = true;
        } else set(ix);
      }
      if (missing) continue;
      const src = parsePrefix(r.src, family);
      const dst = parsePrefix(r.dst, family);
      const sports = parsePorts(r.sport);
      const dports = parsePorts(r.dport);
      const protos: Array<number | undefined> = proto !== undefined ? [proto] : hasPorts ? [6, 17] : [undefined];
      for (const p of protos) {
        for (const sp of sports) {
          for (const dp of dports) {
            const sid = `${list}|${src.plen}|${dst.plen}|${sp.plen}|${dp.plen}|${p !== undefined ? 1 : 0}|${iif ? 1 : 0}|${oif ? 1 : 0}`;
            let s = shapes.get(sid);
            if (!s) {
              s = { list, srcPlen: src.plen, dstPlen: dst.plen, spPlen: sp.plen, dpPlen: dp.plen, proto: p !== undefined, iif: iif !== 0, oif: oif !== 0, minRule: ruleIndex, keys: new Map() };
              shapes.set(sid, s);
            }
            const key: RuleKey = {
              gen: 0,
              list,
              proto: p ?? 0,
              pad: 0,
              tuple: 0,
              sport: sp.value & portMask(sp.plen),
              dport: dp.value & portMask(dp.plen),
              pad2: 0,
              iif,
              oif,
              src: src.bytes,
              dst: dst.bytes,
            };
            const kid = `${key.proto}|${key.sport}|${key.dport}|${iif}|${oif}|${src.bytes.toString('hex')}|${dst.bytes.toString('hex')}`;
            if (!s.keys.has(kid)) {
              s.keys.set(kid, { key, rule: ruleIndex }); // rules arrive in order: the first keeps it
              keyCount++;
            }
          }
        }
      }
    }
  }

  if (keyCount > FW_MAX_KEYS / 2) throw new DifwError('DIFW_E_CAPACITY', `Cannot load ${keyCount} rule keys: the datapath holds at most ${FW_MAX_KEYS / 2} per rule set (port ranges and lists expand into several keys)`);

  const tuples: CompiledTuple[] = [];
  const keys: CompiledKey[] = [];
  const perList = Array<number>(FW_LISTS).fill(0);
  for (let list = 0; list < FW_LISTS; list++) {
    const mine = [...shapes.values()].filter((s) => s.list === list).sort((a, b) => a.minRule - b.minRule);
    if (mine.length > FW_MAX_TUPLES)
      throw new DifwError(
        'DIFW_E_CAPACITY',
        `Cannot load the ${LIST_NAMES[list]} rules: they have ${mine.length} distinct shapes (prefix lengths, port block sizes, protocol and interface use) and the datapath supports ${FW_MAX_TUPLES}`,
      );
    perList[list] = mine.length;
    mine.forEach((s, i) => {
      tuples.push({
        list,
        index: i,
        value: {
          src_mask: prefixMask(s.srcPlen),
          dst_mask: prefixMask(s.dstPlen),
          sport_mask: portMask(s.spPlen),
          dport_mask: portMask(s.dpPlen),
          match_proto: s.proto ? 1 : 0,
          match_iif: s.iif ? 1 : 0,
          match_oif: s.oif ? 1 : 0,
          pad: 0,
          min_rule: s.minRule,
        },
      });
      for (const { key, rule } of s.keys.values()) keys.push({ key: { ...key, tuple: i }, rule });
    });
  }

  const config: FwConfig = {
    generation: 0,
    enabled: state.enabled ? 1 : 0,
    def_in: POLICY[state.defaults.incoming],
    def_out: POLICY[state.defaults.outgoing],
    def_routed: POLICY[state.defaults.routed],
    log_level: LOGLEVEL[state.logging],
    flags: opts.noFib ? FW_CFG_NO_FIB : 0,
    ntuples: perList,
    pad: 0,
    event_rate: opts.eventRate ?? 0,
    event_burst: opts.eventBurst ?? 0,
  };
  return {
    config,
    tuples,
    keys,
    actions,
    summary: { rules: total, tuples: tuples.length, keys: keys.length, tuplesPerList: perList, unresolvedInterfaces: [...unresolved] },
  };
}
