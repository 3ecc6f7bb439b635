/**
 * The host-firewall datapath through BPF_PROG_TEST_RUN: fixture tables (rule set + packets +
 * expected verdicts) for IPv4 and IPv6, TCP/UDP/ICMP, allow/deny/reject/limit, first match,
 * CIDR, port ranges and lists, conntrack (established, related, invalid), fragments, malformed
 * and truncated headers, interface rules and the generation flip; then 10,000 rules, whose
 * per-packet cost is reported (the speed targets are checked by `make bench`, not here).
 *
 * Tables run with FW_CFG_NO_FIB (every inbound packet is for this host) so the results do not
 * depend on the forwarding sysctls of the machine running the tests.
 */
import { test, before, after, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, rmSync } from 'node:fs';
import { Datapath, type DatapathEvent } from '../../src/datapath/loader.js';
import { compileFirewall } from '../../src/policy/ufw-compile.js';
import { DEFAULT_STATE, type FirewallState, type Rule, type Defaults, type LogLevel } from '../../src/ufw/model.js';
import { ensureBpffs } from '../../src/state/paths.js';
import { logger } from '../../src/log.js';
import { FW_META_MAGIC, FW_REPLY_ICMP, FW_REPLY_RST, ctEntry, ruleKey, type RuleKey } from '../../src/datapath/layouts.js';
import * as P from '../helpers/packets.js';

const XDP_DROP = 1;
const XDP_PASS = 2;
const TC_ACT_OK = 0;
const TC_ACT_SHOT = 2;
const TC_ACT_REDIRECT = 7;

type Verdict = 'pass' | 'drop' | 'rst' | 'icmp';

let dp: Datapath | undefined;
let skipReason = '';
const pinDir = `/run/difw/bpffs/td-dp-test-${process.pid}`;

before(async () => {
  if (process.getuid?.() !== 0) return void (skipReason = 'needs root for BPF');
  if (!existsSync('build/xdp_ingress.bpf.o')) return void (skipReason = 'build/*.bpf.o missing: run make build');
  try {
    if (!ensureBpffs()) return void (skipReason = 'bpffs not visible');
    dp = await Datapath.load({ pinDir, objDir: 'build', logger: logger('datapath-test') });
  } catch (e) {
    skipReason = `cannot load the datapath: ${(e as Error).message}`;
  }
});

after(() => {
  dp?.close();
  rmSync(pinDir, { recursive: true, force: true });
});

function need(t: TestContext): Datapath | undefined {
  if (!dp) {
    t.skip(skipReason || 'datapath not loaded');
    return undefined;
  }
  return dp;
}

export function rule(p: Partial<Rule>): Rule {
  return { action: 'allow', direction: 'in', forward: false, protocol: 'any', src: 'any', dst: 'any', sport: 'any', dport: 'any', sapp: '', dapp: '', ifaceIn: '', ifaceOut: '', logtype: '', v6: false, comment: '', ...p };
}

interface Setup {
  rules?: Partial<Rule>[];
  rules6?: Partial<Rule>[];
  defaults?: Partial<Defaults>;
  logging?: LogLevel;
  ifaces?: Record<string, number>;
}

function stateOf(s: Setup): FirewallState {
  return {
    ...DEFAULT_STATE,
    enabled: true,
    defaults: { ...DEFAULT_STATE.defaults, ...s.defaults },
    logging: s.logging ?? 'off',
    rules: (s.rules ?? []).map(rule),
    rules6: (s.rules6 ?? []).map((r) => rule({ ...r, v6: true })),
  };
}

function apply(d: Datapath, s: Setup): void {
  d.apply(compileFirewall(stateOf(s), { ifindex: (n) => s.ifaces?.[n], noFib: true }));
  for (const m of ['fw_ct', 'fw_limit', 'fw_frag']) d.map(m).clear();
}

/** The two ingress hooks run the same chain (bpf/lib/ingress.h); the tables run through both. */
type Hook = 'xdp' | 'tc';
const HOOKS: readonly Hook[] = ['xdp', 'tc'];

/**
 * Ingress verdict of one frame. XDP: a reject is XDP_PASS with the metadata request. TC
 * (tc_ingress_fw): a reject is the built reply, redirected back out.
 */
function ingress(d: Datapath, f: Buffer, hook: Hook = 'xdp'): Verdict {
  if (hook === 'tc') return tcVerdict(d.program('tc_ingress_fw').testRun({ data: f })).v;
  const r = d.program('xdp').testRun({ data: f });
  if (r.retval === XDP_DROP) return 'drop';
  assert.equal(r.retval, XDP_PASS, `unexpected XDP return ${r.retval}`);
  if (r.data.length === f.length + 8 && r.data.readUInt32LE(0) === FW_META_MAGIC) {
    const reply = r.data[4];
    return reply === FW_REPLY_RST ? 'rst' : reply === FW_REPLY_ICMP ? 'icmp' : 'drop';
  }
  assert.equal(r.data.length, f.length, 'a passed frame is unchanged');
  return 'pass';
}

/** Egress verdict (TC); rejects come back as the built reply, redirected. */
function egress(d: Datapath, f: Buffer): { v: Verdict; reply?: P.Parsed } {
  return tcVerdict(d.program('tc_egress').testRun({ data: f }));
}

/** A TC program's verdict; a reject is the built reply, redirected. */
function tcVerdict(r: { retval: number; data: Buffer }): { v: Verdict; reply?: P.Parsed } {
  if (r.retval === TC_ACT_OK) return { v: 'pass' };
  if (r.retval === TC_ACT_SHOT) return { v: 'drop' };
  assert.equal(r.retval, TC_ACT_REDIRECT, `unexpected TC return ${r.retval}`);
  const reply = P.parseFrame(r.data);
  return { v: reply.proto === 6 ? 'rst' : 'icmp', reply };
}

interface Step {
  name: string;
  pkt: Buffer;
  dir?: 'in' | 'out';
  expect: Verdict;
}

interface Case {
  name: string;
  setup: Setup;
  steps: Step[];
}

const H = '198.18.0.1'; // this host
const R = '198.18.0.2'; // a peer
const R2 = '198.18.0.5';
const H6 = '2001:db8::1';
const R6 = '2001:db8::2';
const syn = (src: string, dst: string, dport: number, sport = 40000, extra = {}) => P.tcp(src, dst, { sport, dport, flags: P.TCP.SYN }, extra);

const CASES: Case[] = [
  {
    name: 'default deny, allow 22/tcp (v4)',
    setup: { rules: [{ dport: '22', protocol: 'tcp' }] },
    steps: [
      { name: 'syn 22', pkt: syn(R, H, 22), expect: 'pass' },
      { name: 'syn 80', pkt: syn(R, H, 80), expect: 'drop' },
      { name: 'udp 22', pkt: P.udp(R, H, 5000, 22), expect: 'drop' },
      { name: 'echo request (before-rules)', pkt: P.echo(R, H, false), expect: 'pass' },
      { name: 'echo reply without request is INVALID', pkt: P.echo(R, H, true, 999), expect: 'drop' },
      { name: 'dhcp reply 67->68 (before-rules)', pkt: P.udp(R, H, 67, 68), expect: 'pass' },
      { name: 'mdns', pkt: P.udp(R, '224.0.0.251', 5353, 5353), expect: 'pass' },
      { name: 'timestamp request goes to policy', pkt: P.icmp(R, H, 13), expect: 'drop' },
    ],
  },
  {
    name: 'default allow, deny 23/tcp',
    setup: { defaults: { incoming: 'allow' }, rules: [{ action: 'deny', dport: '23', protocol: 'tcp' }] },
    steps: [
      { name: 'syn 23', pkt: syn(R, H, 23), expect: 'drop' },
      { name: 'udp 23', pkt: P.udp(R, H, 5000, 23), expect: 'pass' },
      { name: 'syn 22', pkt: syn(R, H, 22), expect: 'pass' },
    ],
  },
  {
    name: 'reject: tcp reset for proto tcp, icmp for udp and protocol-less rules',
    setup: { rules: [{ action: 'reject', dport: '80', protocol: 'tcp' }, { action: 'reject', dport: '8082', protocol: 'udp' }, { action: 'reject', dport: '9000' }, { action: 'reject', src: R2 }] },
    steps: [
      { name: 'syn 80', pkt: syn(R, H, 80), expect: 'rst' },
      { name: 'udp 8082', pkt: P.udp(R, H, 5000, 8082), expect: 'icmp' },
      { name: 'tcp 8082 not matched', pkt: syn(R, H, 8082), expect: 'drop' },
      { name: 'any+port: tcp half resets', pkt: syn(R, H, 9000), expect: 'rst' },
      { name: 'any+port: udp half icmp', pkt: P.udp(R, H, 1, 9000), expect: 'icmp' },
      { name: 'from host, no port: tcp gets icmp', pkt: syn(R2, H, 1234), expect: 'icmp' },
      { name: 'never answer a RST', pkt: P.tcp(R, H, { sport: 1, dport: 80, flags: P.TCP.RST | P.TCP.ACK }), expect: 'drop' },
    ],
  },
  {
    name: 'default reject policy answers with icmp port unreachable',
    setup: { defaults: { incoming: 'reject' } },
    steps: [
      { name: 'tcp', pkt: syn(R, H, 81), expect: 'icmp' },
      { name: 'udp', pkt: P.udp(R, H, 1, 81), expect: 'icmp' },
      { name: 'multicast is never answered', pkt: P.udp(R, '224.0.0.9', 1, 81), expect: 'drop' },
    ],
  },
  {
    name: 'first match wins',
    setup: { defaults: { incoming: 'allow' }, rules: [{ action: 'deny', src: R2 }, { action: 'allow', src: R2, dport: '22', protocol: 'tcp' }, { action: 'allow', dport: '6001' }, { action: 'deny', src: R, dport: '6001', protocol: 'tcp' }] },
    steps: [
      { name: 'deny host before allow port', pkt: syn(R2, H, 22), expect: 'drop' },
      { name: 'other host', pkt: syn(R, H, 22), expect: 'pass' },
      { name: 'allow 6001 before deny', pkt: syn(R, H, 6001), expect: 'pass' },
    ],
  },
  {
    name: 'CIDR source to port/proto',
    setup: { rules: [{ src: '198.18.0.0/29', dport: '8080', protocol: 'tcp' }] },
    steps: [
      { name: '.2 in /29', pkt: syn(R, H, 8080), expect: 'pass' },
      { name: '.7 in /29', pkt: syn('198.18.0.7', H, 8080), expect: 'pass' },
      { name: '.8 outside', pkt: syn('198.18.0.8', H, 8080), expect: 'drop' },
      { name: 'udp 8080', pkt: P.udp(R, H, 1, 8080), expect: 'drop' },
      { name: 'tcp 80', pkt: syn(R, H, 80), expect: 'drop' },
    ],
  },
  {
    name: 'port range and list',
    setup: { rules: [{ dport: '5000:5010', protocol: 'udp' }, { protocol: 'tcp', dport: '22,80,443' }, { sport: '53', protocol: 'udp' }] },
    steps: [
      ...[4999, 5000, 5005, 5007, 5008, 5010, 5011].map((p) => ({ name: `udp ${p}`, pkt: P.udp(R, H, 1, p), expect: (p >= 5000 && p <= 5010 ? 'pass' : 'drop') as Verdict })),
      ...[22, 80, 443, 8080].map((p) => ({ name: `tcp ${p}`, pkt: syn(R, H, p), expect: (p === 8080 ? 'drop' : 'pass') as Verdict })),
      { name: 'udp 80 not in the tcp list', pkt: P.udp(R, H, 1, 80), expect: 'drop' },
      { name: 'source port 53', pkt: P.udp(R, H, 53, 33333), expect: 'pass' },
    ],
  },
  {
    name: 'established: replies to allowed and to outgoing connections',
    setup: { defaults: { outgoing: 'deny' }, rules: [{ dport: '22', protocol: 'tcp' }, { direction: 'out', dport: '80', protocol: 'tcp' }, { direction: 'out', dport: '53', protocol: 'udp' }] },
    steps: [
      { name: 'in syn 22', pkt: syn(R, H, 22, 41000), expect: 'pass' },
      { name: 'out syn-ack (established)', dir: 'out', pkt: P.tcp(H, R, { sport: 22, dport: 41000, flags: P.TCP.SYN | P.TCP.ACK }), expect: 'pass' },
      { name: 'in ack', pkt: P.tcp(R, H, { sport: 41000, dport: 22, flags: P.TCP.ACK }), expect: 'pass' },
      { name: 'out data', dir: 'out', pkt: P.tcp(H, R, { sport: 22, dport: 41000, flags: P.TCP.ACK | P.TCP.PSH, payload: Buffer.alloc(100) }), expect: 'pass' },
      { name: 'out to other port denied', dir: 'out', pkt: P.tcp(H, R, { sport: 22, dport: 41001, flags: P.TCP.SYN }), expect: 'drop' },
      { name: 'out syn 80', dir: 'out', pkt: syn(H, R, 80, 42000), expect: 'pass' },
      { name: 'in syn-ack from 80', pkt: P.tcp(R, H, { sport: 80, dport: 42000, flags: P.TCP.SYN | P.TCP.ACK }), expect: 'pass' },
      { name: 'in syn-ack unknown is INVALID', pkt: P.tcp(R, H, { sport: 80, dport: 42001, flags: P.TCP.SYN | P.TCP.ACK }), expect: 'drop' },
      { name: 'in fin unknown is INVALID', pkt: P.tcp(R, H, { sport: 80, dport: 42001, flags: P.TCP.FIN | P.TCP.ACK }), expect: 'drop' },
      { name: 'in rst for the outgoing connection', pkt: P.tcp(R, H, { sport: 80, dport: 42000, flags: P.TCP.RST | P.TCP.ACK }), expect: 'pass' },
      { name: 'out udp 53', dir: 'out', pkt: P.udp(H, R, 43000, 53), expect: 'pass' },
      { name: 'in udp reply', pkt: P.udp(R, H, 53, 43000), expect: 'pass' },
      { name: 'in udp from other port', pkt: P.udp(R, H, 54, 43000), expect: 'drop' },
      { name: 'in echo request', pkt: P.echo(R, H, false, 77), expect: 'pass' },
      { name: 'out echo reply (established)', dir: 'out', pkt: P.echo(H, R, true, 77), expect: 'pass' },
      { name: 'out echo request (not allowed out)', dir: 'out', pkt: P.echo(H, R, false, 78), expect: 'drop' },
    ],
  },
  {
    name: 'loose pickup: a mid-stream ACK is NEW and meets the rules',
    setup: { rules: [{ dport: '22', protocol: 'tcp' }] },
    steps: [
      { name: 'ack to 22 (allowed)', pkt: P.tcp(R, H, { sport: 45000, dport: 22, flags: P.TCP.ACK }), expect: 'pass' },
      { name: 'ack to 23 (denied)', pkt: P.tcp(R, H, { sport: 45000, dport: 23, flags: P.TCP.ACK }), expect: 'drop' },
      { name: 'reply direction now established', dir: 'out', pkt: P.tcp(H, R, { sport: 22, dport: 45000, flags: P.TCP.ACK }), expect: 'pass' },
    ],
  },
  {
    name: 'invalid TCP flag combinations are dropped even where allowed',
    setup: { defaults: { incoming: 'allow' } },
    steps: [
      { name: 'syn+fin', pkt: P.tcp(R, H, { sport: 1, dport: 22, flags: P.TCP.SYN | P.TCP.FIN }), expect: 'drop' },
      { name: 'syn+rst', pkt: P.tcp(R, H, { sport: 1, dport: 22, flags: P.TCP.SYN | P.TCP.RST }), expect: 'drop' },
      { name: 'no flags', pkt: P.tcp(R, H, { sport: 1, dport: 22, flags: 0 }), expect: 'drop' },
      { name: 'xmas', pkt: P.tcp(R, H, { sport: 1, dport: 22, flags: 0x29 }), expect: 'drop' },
      { name: 'fin alone', pkt: P.tcp(R, H, { sport: 1, dport: 22, flags: P.TCP.FIN }), expect: 'drop' },
      { name: 'plain syn', pkt: P.tcp(R, H, { sport: 1, dport: 22, flags: P.TCP.SYN }), expect: 'pass' },
    ],
  },
  {
    name: 'ICMP errors: RELATED when they quote a tracked flow, else INVALID',
    setup: { rules: [] },
    steps: [
      { name: 'out udp 53', dir: 'out', pkt: P.udp(H, R, 43100, 53), expect: 'pass' },
      { name: 'in port unreachable quoting it', pkt: P.icmpError(R, H, 3, 3, P.ipPacket(H, R, 17, P.udpDatagram(H, R, 43100, 53))), expect: 'pass' },
      { name: 'in port unreachable quoting nothing known', pkt: P.icmpError(R, H, 3, 3, P.ipPacket(H, R, 17, P.udpDatagram(H, R, 43101, 53))), expect: 'drop' },
      { name: 'time exceeded quoting it', pkt: P.icmpError('198.18.0.9', H, 11, 0, P.ipPacket(H, R, 17, P.udpDatagram(H, R, 43100, 53))), expect: 'pass' },
      { name: 'truncated quote', pkt: P.icmp(R, H, 3, 3, Buffer.alloc(10)), expect: 'drop' },
    ],
  },
  {
    name: 'limit: the 6th new connection in 30 s from one source is rejected',
    setup: { rules: [{ action: 'limit', dport: '2222', protocol: 'tcp' }] },
    steps: [
      ...[1, 2, 3, 4, 5].map((i) => ({ name: `syn ${i}`, pkt: syn(R, H, 2222, 46000 + i), expect: 'pass' as Verdict })),
      { name: 'syn 6', pkt: syn(R, H, 2222, 46006), expect: 'icmp' },
      { name: 'syn 7', pkt: syn(R, H, 2222, 46007), expect: 'icmp' },
      { name: 'other source', pkt: syn(R2, H, 2222, 46008), expect: 'pass' },
      { name: 'server answers the first connection', dir: 'out', pkt: P.tcp(H, R, { sport: 2222, dport: 46001, flags: P.TCP.SYN | P.TCP.ACK }), expect: 'pass' },
      { name: 'established traffic is not counted', pkt: P.tcp(R, H, { sport: 46001, dport: 2222, flags: P.TCP.ACK }), expect: 'pass' },
    ],
  },
  {
    name: 'IPv6: rules, ICMPv6 before-rules, NDP hop limit, rh0, extension headers',
    setup: { rules6: [{ dport: '22', protocol: 'tcp' }, { action: 'reject', dport: '8082', protocol: 'udp' }, { action: 'reject', dport: '80', protocol: 'tcp' }] },
    steps: [
      { name: 'syn 22', pkt: syn(R6, H6, 22), expect: 'pass' },
      { name: 'syn 23', pkt: syn(R6, H6, 23), expect: 'drop' },
      { name: 'udp 8082 rejected', pkt: P.udp(R6, H6, 1, 8082), expect: 'icmp' },
      { name: 'tcp 80 rst', pkt: syn(R6, H6, 80), expect: 'rst' },
      { name: 'echo request', pkt: P.echo(R6, H6, false), expect: 'pass' },
      { name: 'echo reply (before-rules accept)', pkt: P.echo(R6, H6, true, 5), expect: 'pass' },
      { name: 'neighbor solicitation hl 255', pkt: P.icmp('fe80::2', 'ff02::1:ff00:1', 135, 0, Buffer.alloc(20), { hopLimit: 255 }), expect: 'pass' },
      { name: 'neighbor solicitation hl 64', pkt: P.icmp('fe80::2', 'ff02::1:ff00:1', 135, 0, Buffer.alloc(20), { hopLimit: 64 }), expect: 'drop' },
      { name: 'router advertisement hl 255', pkt: P.icmp('fe80::1', 'ff02::1', 134, 0, Buffer.alloc(12), { hopLimit: 255 }), expect: 'pass' },
      { name: 'MLD query from link-local', pkt: P.icmp('fe80::1', 'ff02::1', 130, 0, Buffer.alloc(20), { hopLimit: 1 }), expect: 'pass' },
      { name: 'MLD query from global', pkt: P.icmp(R6, 'ff02::1', 130, 0, Buffer.alloc(20), { hopLimit: 1 }), expect: 'drop' },
      { name: 'routing header type 0', pkt: P.tcp(R6, H6, { sport: 1, dport: 22, flags: P.TCP.SYN }, { ext: [{ type: 'routing', routingType: 0 }] }), expect: 'drop' },
      { name: 'routing header type 2 to 22', pkt: P.tcp(R6, H6, { sport: 2, dport: 22, flags: P.TCP.SYN }, { ext: [{ type: 'routing', routingType: 2, segmentsLeft: 0 }] }), expect: 'pass' },
      { name: 'hop-by-hop + dst opts to 22', pkt: P.tcp(R6, H6, { sport: 3, dport: 22, flags: P.TCP.SYN }, { ext: [{ type: 'hop' }, { type: 'dst', len: 1 }] }), expect: 'pass' },
      { name: 'hop-by-hop + dst opts to 23', pkt: P.tcp(R6, H6, { sport: 3, dport: 23, flags: P.TCP.SYN }, { ext: [{ type: 'hop' }, { type: 'dst', len: 1 }] }), expect: 'drop' },
      { name: 'dhcpv6 reply', pkt: P.udp('fe80::1', 'fe80::2', 547, 546), expect: 'pass' },
      { name: 'v4 rule list does not apply to v6', pkt: P.udp(R6, H6, 1, 5353), expect: 'drop' },
    ],
  },
  {
    name: 'interface rules match the input interface',
    setup: { rules: [{ ifaceIn: 'lo', dport: '80', protocol: 'tcp' }, { ifaceIn: 'td-other', dport: '81', protocol: 'tcp' }, { ifaceIn: 'td-missing', dport: '82', protocol: 'tcp' }], ifaces: { lo: 1, 'td-other': 999999 } },
    steps: [
      { name: 'in on lo (test runs arrive on lo)', pkt: syn(R, H, 80), expect: 'pass' },
      { name: 'in on another interface', pkt: syn(R, H, 81), expect: 'drop' },
      { name: 'interface that does not exist', pkt: syn(R, H, 82), expect: 'drop' },
    ],
  },
  {
    name: 'out on IFACE rules match the output interface',
    setup: { defaults: { outgoing: 'deny' }, rules: [{ direction: 'out', ifaceOut: 'lo', dport: '80', protocol: 'tcp' }, { direction: 'out', ifaceOut: 'td-other', dport: '81', protocol: 'tcp' }], ifaces: { lo: 1, 'td-other': 999999 } },
    steps: [
      { name: 'out on lo (test runs leave through lo)', dir: 'out', pkt: syn(H, R, 80), expect: 'pass' },
      { name: 'out on another interface', dir: 'out', pkt: syn(H, R, 81), expect: 'drop' },
    ],
  },
];

for (const hook of HOOKS)
for (const c of CASES) {
  test(`table (${hook}): ${c.name}`, (t) => {
    const d = need(t);
    if (!d) return;
    apply(d, c.setup);
    for (const s of c.steps) {
      const got: Verdict = s.dir === 'out' ? egress(d, s.pkt).v : ingress(d, s.pkt, hook);
      assert.equal(got, s.expect, `${c.name}: ${s.name}`);
    }
  });
}

for (const hook of HOOKS)
test(`fragments (${hook}): the first fragment decides, later ones follow, orphans are dropped (v4 and v6)`, (t) => {
  const d = need(t);
  if (!d) return;
  const ing = (f: Buffer) => ingress(d, f, hook);
  apply(d, { rules: [{ dport: '5000', protocol: 'udp' }], rules6: [{ dport: '5000', protocol: 'udp' }] });
  for (const [src, dst] of [[R, H], [R6, H6]] as const) {
    const big = (dport: number, id: number) => {
      const ip = P.ipPacket(src, dst, 17, P.udpDatagram(src, dst, 7000, dport, Buffer.alloc(600, 1)), { id });
      return (P.familyOf(src) === 4 ? P.fragment4(ip, 256) : P.fragment6(ip, 256, id)).map(P.frame);
    };
    const ok = big(5000, 0x1111);
    assert.equal(ok.length, 3);
    assert.deepEqual(ok.map(ing), ['pass', 'pass', 'pass'], `${src}: allowed datagram`);
    const bad = big(5001, 0x2222);
    assert.deepEqual(bad.map(ing), ['drop', 'drop', 'drop'], `${src}: denied datagram`);
    const orphan = big(5000, 0x3333);
    assert.equal(ing(orphan[1]!), 'drop', `${src}: later fragment without the first`);
    assert.equal(ing(orphan[2]!), 'drop');
  }
  // a first fragment too short to hold the UDP header is malformed
  const tiny = P.frame(P.ipv4({ src: R, dst: H, proto: 17, payload: Buffer.alloc(4), mf: true, id: 0x4444 }));
  assert.equal(ing(tiny), 'drop');
});

for (const hook of HOOKS)
test(`malformed and truncated headers (${hook}) never pass where the policy drops, and never crash`, (t) => {
  const d = need(t);
  if (!d) return;
  const ing = (f: Buffer) => ingress(d, f, hook);
  apply(d, { rules: [{ dport: '22', protocol: 'tcp' }], rules6: [{ dport: '22', protocol: 'tcp' }] });
  const frames: Array<[string, Buffer]> = [
    ['v4 tcp 80', syn(R, H, 80)],
    ['v4 tcp 80 with ip options', syn(R, H, 80, 40000, { options: Buffer.from([1, 1, 1, 0]) })],
    ['v4 udp 80', P.udp(R, H, 1, 80)],
    ['v4 icmp timestamp', P.icmp(R, H, 13)],
    ['v6 tcp 80', syn(R6, H6, 80)],
    ['v6 tcp 80 after ext headers', P.tcp(R6, H6, { sport: 1, dport: 80, flags: P.TCP.SYN }, { ext: [{ type: 'hop' }, { type: 'dst' }] })],
    ['v6 udp 80', P.udp(R6, H6, 1, 80)],
  ];
  let runs = 0;
  // BPF_PROG_TEST_RUN refuses XDP frames shorter than an Ethernet header (the program passes
  // those as non-IP runts, which the stack discards), and skb frames (TC) shorter than the
  // Ethernet + IP header their ethertype announces (EINVAL): those lengths are not run.
  const shortest = (f: Buffer) => (hook === 'xdp' ? 14 : 14 + (f.readUInt16BE(12) === 0x86dd ? 40 : 20));
  let notRun = 0;
  for (const [name, f] of frames) {
    assert.equal(ing(f), 'drop', `${name} itself is dropped`);
    notRun += shortest(f) - 14;
    for (let n = shortest(f); n < f.length; n++) {
      assert.equal(ing(P.truncate(f, n)), 'drop', `${name} cut at ${n}`);
      runs++;
    }
  }
  // the allowed packet cut inside its headers is dropped too (INVALID), not passed
  const ok = syn(R, H, 22);
  for (let n = shortest(ok); n < ok.length; n++) assert.equal(ing(P.truncate(ok, n)), 'drop', `allowed syn cut at ${n}`);
  if (notRun) t.diagnostic(`${notRun} truncations inside the IP header not run: the kernel builds no skb for them`);
  const mut = (f: Buffer, fn: (b: Buffer) => void) => {
    const b = Buffer.from(f);
    fn(b);
    return b;
  };
  const allowed4 = syn(R, H, 22);
  const allowed6 = syn(R6, H6, 22);
  const broken: Array<[string, Buffer]> = [
    ['ihl 4', mut(allowed4, (b) => (b[14] = 0x44))],
    ['version 5', mut(allowed4, (b) => (b[14] = 0x55))],
    ['tot_len beyond frame', mut(allowed4, (b) => b.writeUInt16BE(200, 16))],
    ['tot_len below ihl', mut(allowed4, (b) => b.writeUInt16BE(16, 16))],
    ['ihl beyond tot_len', mut(allowed4, (b) => (b[14] = 0x4f))],
    ['tcp doff 4', mut(allowed4, (b) => (b[14 + 20 + 12] = 0x40))],
    ['tcp doff beyond segment', mut(allowed4, (b) => (b[14 + 20 + 12] = 0xf0))],
    ['udp length beyond datagram', mut(P.udp(R, H, 1, 5000), (b) => b.writeUInt16BE(300, 14 + 20 + 4))],
    ['udp length below header', mut(P.udp(R, H, 1, 5000), (b) => b.writeUInt16BE(4, 14 + 20 + 4))],
    ['v6 payload length beyond frame', mut(allowed6, (b) => b.writeUInt16BE(500, 18))],
    ['v6 payload length 0 (jumbo)', mut(allowed6, (b) => b.writeUInt16BE(0, 18))],
    ['v6 version 4', mut(allowed6, (b) => (b[14] = 0x40))],
    ['v6 seven extension headers', P.tcp(R6, H6, { sport: 1, dport: 22, flags: P.TCP.SYN }, { ext: Array.from({ length: 7 }, () => ({ type: 'dst' as const })) })],
    ['v6 ext header running past the payload', mut(P.tcp(R6, H6, { sport: 1, dport: 22, flags: P.TCP.SYN }, { ext: [{ type: 'dst' }] }), (b) => (b[14 + 40 + 1] = 40))],
  ];
  for (const [name, f] of broken) {
    assert.equal(ing(f), 'drop', name);
    runs++;
  }
  const st = d.stats();
  assert.ok(st.invalid > 0n);
  assert.ok(runs + notRun > 300, `${runs} malformed frames run, ${notRun} not runnable`);
  assert.ok(runs > 150, `${runs} malformed frames run`);
});

test('egress reject builds a correct TCP RST and ICMP/ICMPv6 port unreachable', (t) => {
  const d = need(t);
  if (!d) return;
  apply(d, { rules: [{ direction: 'out', action: 'reject', dport: '9', protocol: 'tcp' }, { direction: 'out', action: 'reject', dport: '10', protocol: 'udp' }], rules6: [{ direction: 'out', action: 'reject', dport: '10', protocol: 'udp' }, { direction: 'out', action: 'reject', dport: '9', protocol: 'tcp' }] });
  const synOut = P.tcp(H, R, { sport: 40001, dport: 9, flags: P.TCP.SYN, seq: 0xfffffff0 });
  const e1 = egress(d, synOut);
  assert.equal(e1.v, 'rst');
  const r1 = e1.reply!;
  assert.ok(r1.checksumsOk, 'RST checksums');
  assert.equal(r1.src, P.canon(R));
  assert.equal(r1.dst, P.canon(H));
  assert.deepEqual({ ...r1.tcp }, { sport: 9, dport: 40001, seq: 0, ack: 0xfffffff1, flags: P.TCP.RST | P.TCP.ACK });
  // a segment with ACK: seq = its ack, no ACK flag
  const ackOut = P.tcp(H, R, { sport: 40002, dport: 9, flags: P.TCP.ACK | P.TCP.PSH, seq: 5, ack: 777, payload: Buffer.alloc(3) });
  const e2 = egress(d, ackOut);
  assert.equal(e2.v, 'rst');
  assert.equal(e2.reply!.tcp!.seq, 777);
  assert.equal(e2.reply!.tcp!.flags, P.TCP.RST);
  const udpOut = P.udp(H, R, 40003, 10, Buffer.alloc(30, 7));
  const e3 = egress(d, udpOut);
  assert.equal(e3.v, 'icmp');
  assert.ok(e3.reply!.checksumsOk, 'ICMP checksums');
  assert.deepEqual([e3.reply!.icmp!.type, e3.reply!.icmp!.code], [3, 3]);
  assert.deepEqual(e3.reply!.icmp!.quoted, udpOut.subarray(14, 14 + 20 + 8), 'quotes IP header + 8 bytes');
  const udp6 = P.udp(H6, R6, 40004, 10, Buffer.alloc(30, 7));
  const e4 = egress(d, udp6);
  assert.equal(e4.v, 'icmp');
  assert.ok(e4.reply!.checksumsOk, 'ICMPv6 checksums');
  assert.deepEqual([e4.reply!.icmp!.type, e4.reply!.icmp!.code], [1, 4]);
  assert.deepEqual(e4.reply!.icmp!.quoted, udp6.subarray(14, 14 + 40 + 8));
  const syn6 = P.tcp(H6, R6, { sport: 40005, dport: 9, flags: P.TCP.SYN, seq: 1 });
  const e5 = egress(d, syn6);
  assert.equal(e5.v, 'rst');
  assert.ok(e5.reply!.checksumsOk);
  assert.equal(e5.reply!.tcp!.ack, 2);
});

test('generation flip: each apply shows exactly one complete rule set, old keys are removed', (t) => {
  const d = need(t);
  if (!d) return;
  const A: Setup = { rules: [{ action: 'deny', src: R, dport: '80', protocol: 'tcp' }], defaults: { incoming: 'allow' } };
  const B: Setup = { rules: [{ action: 'allow', src: R }, { action: 'deny', dport: '81', protocol: 'tcp' }], defaults: { incoming: 'reject' } };
  const keysOf = (s: Setup) => compileFirewall(stateOf(s), { ifindex: () => undefined }).keys.length;
  for (let i = 0; i < 20; i++) {
    const s = i % 2 ? B : A;
    apply(d, s);
    const gen = d.tables.activeGeneration();
    const keys: RuleKey[] = [...d.map('fw_keys').keys()].map((k: Buffer) => ruleKey.decode(k));
    assert.equal(keys.length, keysOf(s), `round ${i}: only the active set's keys remain`);
    assert.ok(keys.every((k) => k.gen === gen), `round ${i}: every key has generation ${gen}`);
    const v80 = ingress(d, syn(R, H, 80, 40000 + i));
    const v81 = ingress(d, syn(R2, H, 81, 40000 + i));
    const v82 = ingress(d, syn(R2, H, 82, 40000 + i));
    if (s === A) assert.deepEqual([v80, v81, v82], ['drop', 'pass', 'pass'], `round ${i} (A)`);
    else assert.deepEqual([v80, v81, v82], ['pass', 'drop', 'icmp'], `round ${i} (B)`);
  }
});

test(`one-way UDP (${HOOKS.join(', ')}): later NEW datagrams reuse the first one's accept only while it stays valid`, async (t) => {
  const d = need(t);
  if (!d) return;
  for (const hook of HOOKS) {
    const flow = (): Verdict => ingress(d, P.udp(R, H, 41000, 5201), hook);
    const ct = () => d.map('fw_ct').dump().map(([, v]) => ctEntry.decode(v));
    apply(d, { rules: [{ dport: '5201', protocol: 'udp' }] });
    assert.equal(flow(), 'pass', `${hook}: first datagram`);
    const serial = ct()[0]?.ok_serial ?? 0;
    assert.ok(serial > 0, `${hook}: the accept is remembered (ok_serial ${serial})`);
    for (let i = 0; i < 3; i++) assert.equal(flow(), 'pass', `${hook}: datagram ${i + 2}`);
    // a new rule set (conntrack kept): the memo lapses and the new rules decide
    d.apply(compileFirewall(stateOf({ rules: [{ action: 'deny', dport: '5201', protocol: 'udp' }] }), { ifindex: () => undefined, noFib: true }));
    assert.equal(flow(), 'drop', `${hook}: denied after the rules changed, although the flow has an entry`);
    // a limit rule: every NEW datagram counts, so the 6th in 30 s is refused (no memo)
    apply(d, { rules: [{ action: 'limit', dport: '5201', protocol: 'udp' }] });
    const got: Verdict[] = [1, 2, 3, 4, 5, 6, 7].map(() => flow());
    assert.deepEqual(got, ['pass', 'pass', 'pass', 'pass', 'pass', 'icmp', 'icmp'], `${hook}: limit counts each NEW datagram`);
    assert.ok(ct().every((e) => e.ok_serial === 0), `${hook}: a limit accept is never remembered`);
    // a logged allow rule logs every NEW datagram: no memo either (the events are consumed here)
    const seen: DatapathEvent[] = [];
    const stop = d.onEvents((evs) => seen.push(...evs));
    try {
      apply(d, { rules: [{ dport: '5201', protocol: 'udp', logtype: 'log' }], logging: 'low' });
      assert.deepEqual([flow(), flow(), flow()], ['pass', 'pass', 'pass']);
      assert.ok(ct().every((e) => e.ok_serial === 0), `${hook}: a logged accept is never remembered`);
      for (let i = 0; i < 40 && seen.length < 3; i++) await new Promise((r) => setTimeout(r, 25));
      assert.equal(seen.filter((e) => e.tag === 'ALLOW' && e.dport === 5201).length, 3, `${hook}: each datagram is logged`);
    } finally {
      stop();
    }
  }
});

test('events: policy blocks are logged at low, nothing at off, rule logs carry the rule number', async (t) => {
  const d = need(t);
  if (!d) return;
  const got: DatapathEvent[] = [];
  const stop = d.onEvents((evs) => got.push(...evs));
  try {
    apply(d, { logging: 'low', rules: [{ dport: '22', protocol: 'tcp', logtype: 'log' }] });
    const before = d.stats().events;
    ingress(d, syn(R, H, 80, 50001)); // blocked by policy: logged
    ingress(d, syn(R, H, 22, 50002)); // logged by rule 1
    ingress(d, P.udp(R, H, 1, 137)); // NetBIOS: ufw-after-input goes to the policy quietly
    const mid = d.stats().events;
    assert.equal(mid - before, 2n, 'two events at level low');
    for (let i = 0; i < 40 && got.length < 2; i++) await new Promise((r) => setTimeout(r, 25));
    assert.equal(got.length, 2, 'both delivered through the ring buffer');
    assert.deepEqual(
      { tag: got[0]!.tag, src: got[0]!.src, dst: got[0]!.dst, proto: got[0]!.proto, dport: got[0]!.dport, len: got[0]!.len },
      { tag: 'BLOCK', src: R, dst: H, proto: 'TCP', dport: 80, len: 40 },
    );
    assert.equal(got[1]!.tag, 'ALLOW');
    assert.match(got[1]!.extra ?? '', /RULE=1/);
    apply(d, { logging: 'off', rules: [{ dport: '22', protocol: 'tcp', logtype: 'log' }] });
    ingress(d, syn(R, H, 80, 50003));
    ingress(d, syn(R, H, 22, 50004));
    assert.equal(d.stats().events, mid, 'nothing at level off');
    apply(d, { logging: 'medium', rules: [] });
    const m0 = d.stats().events;
    ingress(d, P.tcp(R, H, { sport: 1, dport: 22, flags: P.TCP.SYN | P.TCP.FIN }));
    assert.equal(d.stats().events - m0, 1n, 'INVALID is logged at medium');
  } finally {
    stop();
  }
});

test('events are rate-limited per CPU so a flood cannot fill the ring', (t) => {
  const d = need(t);
  if (!d) return;
  apply(d, { logging: 'low' });
  d.map('fw_ev_budget').clear();
  const s0 = d.stats();
  // one test run of 3000 repetitions: 3000 blocked packets on one CPU within milliseconds
  d.program('xdp').testRun({ data: syn(R, H, 80, 51000), repeat: 3000 });
  const s1 = d.stats();
  const sent = s1.events - s0.events;
  const lost = s1.events_lost - s0.events_lost;
  assert.equal(sent + lost, 3000n, 'every blocked packet is either logged or counted as lost');
  assert.ok(sent <= 410n, `at most the burst (400) plus refills got through: ${sent}`);
  assert.ok(sent >= 1n && lost >= 2500n, `${sent} sent, ${lost} lost`);
});

test('a second loader adopts the pinned maps: rules and connections survive an agent restart', async (t) => {
  const d = need(t);
  if (!d) return;
  apply(d, { defaults: { outgoing: 'deny' }, rules: [{ dport: '22', protocol: 'tcp' }] });
  assert.equal(ingress(d, syn(R, H, 22, 52000)), 'pass');
  const gen = d.tables.activeGeneration();
  const d2 = await Datapath.load({ pinDir, objDir: 'build', logger: logger('datapath-test-2') });
  try {
    assert.equal(d2.tables.activeGeneration(), gen, 'same active generation');
    assert.equal(d2.tables.activeConfig()?.enabled, 1);
    // the reply of the connection opened through the first instance is established for the second
    const r = d2.program('tc_egress').testRun({ data: P.tcp(H, R, { sport: 22, dport: 52000, flags: P.TCP.SYN | P.TCP.ACK }) });
    assert.equal(r.retval, TC_ACT_OK, 'outgoing is denied by default: only the adopted conntrack entry lets it out');
    assert.equal(d2.program('tc_egress').testRun({ data: P.tcp(H, R, { sport: 22, dport: 52999, flags: P.TCP.SYN | P.TCP.ACK }) }).retval, TC_ACT_SHOT);
    assert.equal(d2.program('xdp').testRun({ data: syn(R, H, 23, 52001) }).retval, XDP_DROP, 'rules adopted');
    assert.equal(d2.program('xdp').testRun({ data: syn(R, H, 22, 52002) }).retval, XDP_PASS);
  } finally {
    d2.close();
  }
});

test('10,000 rules: the worst-case packet still meets the last rule (cost reported, measured by make bench)', (t) => {
  const d = need(t);
  if (!d) return;
  const rulesN = (n: number) => {
    const rs: Partial<Rule>[] = [];
    for (let i = 0; i < n; i++) rs.push({ src: `198.19.${(i >> 8) & 255}.${i & 255}`, dport: String(1000 + (i % 5000)), protocol: 'tcp' });
    rs.push({ dport: '22', protocol: 'tcp' });
    return rs;
  };
  // a packet that misses every rule but the last walks the whole shape list: the worst case
  const pkt = syn(R, H, 22, 40000);
  const measure = (n: number) => {
    apply(d, { rules: rulesN(n) });
    let best = Infinity;
    for (let i = 0; i < 7; i++) best = Math.min(best, d.program('xdp').testRun({ data: pkt, repeat: 20000 }).durationNs);
    return best;
  };
  const t0 = Date.now();
  apply(d, { rules: rulesN(10000) });
  const applyMs = Date.now() - t0;
  // default deny incoming: only the last rule lets the worst-case packet in, and rule 9,999's
  // own source and port still match it (none of the 10,000 keys was lost)
  assert.equal(ingress(d, pkt), 'pass', 'the last of 10,001 rules matches');
  assert.equal(ingress(d, syn('198.19.39.15', H, 1000 + (9999 % 5000), 40001)), 'pass', 'rule 9,999 matches');
  assert.equal(ingress(d, syn('198.19.39.15', H, 1001 + (9999 % 5000), 40002)), 'drop', 'rule 9,999 with another port does not');
  const small = measure(10);
  const large = measure(10000);
  assert.equal(ingress(d, pkt), 'pass');
  // Speed is measured by `make bench`, side by side with peers; a timed assertion here would only
  // measure the machine's load. This test checks the verdicts and reports the numbers.
  t.diagnostic(`testRun ns/packet: 10 rules ${small}, 10000 rules ${large}; apply(10000) ${applyMs} ms`);
});
