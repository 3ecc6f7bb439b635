/**
 * Packet tables for the pod policy datapath (bpf/tc_pod.bpf.c) through BPF_PROG_TEST_RUN.
 *
 * The local pod x/server sits behind ifindex 1: BPF_PROG_TEST_RUN runs TC programs on the
 * loopback device, so the tables name its interface `lo` (nothing is attached to lo: test runs
 * need no attachment). Remote pods live on node-2 and send claims from node 3; the claim maps are
 * configured through ClaimDatapath on the same pin root, and claims are built with the TS
 * reference MAC. pod_to = packets entering the pod (its ingress policy), pod_from = leaving it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { randomInt } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { PodDatapath, type PodEvent } from '../../src/policy/netpol/datapath.js';
import { compileNode, type NodeTables } from '../../src/policy/netpol/compile.js';
import { buildCluster } from '../../src/policy/netpol/cluster.js';
import { parseObject, type ClusterObject } from '../../src/policy/netpol/model.js';
import { ClaimDatapath } from '../../src/identity/claims.js';
import { newClusterSecret, nodeKeyring, pairKey } from '../../src/identity/keys.js';
import { claimMac, encodeClaimOption, addrBytes, type ClaimConn } from '../../src/identity/wire.js';
import { BPFFS_ROOT, ensureBpffs } from '../../src/state/paths.js';
import { tcpFrame, linuxSynOptions } from '../helpers/claim-packets.js';
import type { BpfProgram } from '../../src/bpf/index.js';
import { bpfSkipReason } from '../helpers/env.js';

const repo = resolve(import.meta.dirname, '../../..');
const OBJDIR = join(repo, 'build');
const SELF = 7;
const SENDER = 3;
const EPOCH = 2;
const OK = 0;
const SHOT = 2;
const ACK = 0x10;
const SYN = 0x02;
const SYNACK = 0x12;
const RST = 0x04;
const FIN = 0x01;

const SERVER_IP = '198.19.1.10';
const CLIENT_IP = '198.19.2.11';
const OTHER_IP = '198.19.2.12';
const EXT_IP = '198.18.77.7';

const skipReason = () => bpfSkipReason(['tc_pod.bpf.o', 'sockops_claim.bpf.o']);

const ns = (name: string) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels: { ns: name } } });
const pod = (nsName: string, name: string, labels: Record<string, string>, ip: string, node: string) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: nsName, labels, annotations: { 'difw.io/node': node } },
  spec: { containers: [{ ports: [{ name: 'http', containerPort: 80 }, { name: 'dns', containerPort: 53, protocol: 'UDP' }] }] },
  status: { podIP: ip },
});
const parse = (xs: unknown[]) => xs.map((x) => parseObject(x)).filter((x): x is ClusterObject => !!x);

function baseObjects(clientLabels: Record<string, string> = { app: 'client' }): unknown[] {
  return [
    ns('x'),
    pod('x', 'server', { app: 'server' }, SERVER_IP, 'node-1'),
    pod('x', 'client', clientLabels, CLIENT_IP, 'node-2'),
    pod('x', 'other', { app: 'other' }, OTHER_IP, 'node-2'),
  ];
}
const serverPolicy = {
  apiVersion: 'networking.k8s.io/v1',
  kind: 'NetworkPolicy',
  metadata: { name: 'server', namespace: 'x' },
  spec: {
    podSelector: { matchLabels: { app: 'server' } },
    policyTypes: ['Ingress', 'Egress'],
    ingress: [{ from: [{ podSelector: { matchLabels: { app: 'client' } } }], ports: [{ port: 'http' }, { port: 53, protocol: 'UDP' }] }],
    egress: [{ to: [{ podSelector: { matchLabels: { app: 'client' } } }], ports: [{ port: 8080 }] }],
  },
};

function udp6Frame(saddr: string, daddr: string, sport: number, dport: number): Buffer {
  const eth = Buffer.alloc(14);
  eth.writeUInt16BE(0x86dd, 12);
  const ip = Buffer.alloc(40);
  ip[0] = 0x60;
  ip.writeUInt16BE(12, 4);
  ip[6] = 17;
  ip[7] = 64;
  addrBytes(saddr).copy(ip, 8);
  addrBytes(daddr).copy(ip, 24);
  const udp = Buffer.alloc(12);
  udp.writeUInt16BE(sport, 0);
  udp.writeUInt16BE(dport, 2);
  udp.writeUInt16BE(12, 4);
  return Buffer.concat([eth, ip, udp]);
}

function icmpEcho(saddr: string, daddr: string, type: 0 | 8, id: number): Buffer {
  const f = udpFrame(saddr, daddr, 0, 0);
  f[14 + 9] = 1; // IPPROTO_ICMP
  const icmp = f.subarray(34);
  icmp.fill(0);
  icmp[0] = type;
  icmp.writeUInt16BE(id, 4);
  icmp.writeUInt16BE(1, 6);
  return f;
}

/** ICMP destination unreachable (port) from saddr to daddr, quoting `quoted` (an Ethernet frame). */
function icmpUnreach(saddr: string, daddr: string, quoted: Buffer): Buffer {
  const f = udpFrame(saddr, daddr, 0, 0).subarray(0, 34);
  f[14 + 9] = 1;
  const icmp = Buffer.alloc(8);
  icmp[0] = 3;
  icmp[1] = 3;
  const inner = quoted.subarray(14, 14 + 28);
  const out = Buffer.concat([f, icmp, inner]);
  out.writeUInt16BE(20 + 8 + inner.length, 14 + 2);
  return out;
}

function udpFrame(saddr: string, daddr: string, sport: number, dport: number): Buffer {
  const eth = Buffer.alloc(14);
  eth.writeUInt16BE(0x0800, 12);
  const ip = Buffer.alloc(20);
  ip[0] = 0x45;
  ip.writeUInt16BE(28 + 4, 2);
  ip[8] = 64;
  ip[9] = 17;
  addrBytes(saddr).copy(ip, 12, 12);
  addrBytes(daddr).copy(ip, 16, 12);
  const udp = Buffer.alloc(12);
  udp.writeUInt16BE(sport, 0);
  udp.writeUInt16BE(dport, 2);
  udp.writeUInt16BE(12, 4);
  return Buffer.concat([eth, ip, udp]);
}

test('pod policy datapath packet tables', async (t) => {
  const why = skipReason();
  if (why) return t.skip(why);
  ensureBpffs();
  const pinDir = join(BPFFS_ROOT, `tp-podtest-${process.pid}`);
  t.after(() => rmSync(pinDir, { recursive: true, force: true }));

  const events: PodEvent[] = [];
  const dp = await PodDatapath.load({ pinDir, objDir: OBJDIR, onEvent: (e) => events.push(e) });
  t.after(() => dp.close());
  const claims = ClaimDatapath.load({ pinDir, objDir: OBJDIR });
  t.after(() => claims.close());
  const secret = newClusterSecret();
  claims.setNode(SELF);
  claims.installKeys(nodeKeyring(secret, SELF, [SENDER, SELF], [EPOCH]), { sendEpoch: EPOCH });

  const compile = (objs: unknown[]): NodeTables => {
    const o = parse(objs);
    for (const p of buildCluster(o).pods) if (p.node === 'node-2') claims.setHosted(SENDER, p.identity, true);
    return compileNode(o, 'node-1', { ifname: (p) => (p.name === 'server' ? 'lo' : 'none0') });
  };
  const idOf = (objs: unknown[], key: string) => buildCluster(parse(objs)).podsByKey.get(key)!.identity;

  const to = dp.object.program('pod_to');
  const from = dp.object.program('pod_from');
  const run = (p: BpfProgram, f: Buffer) => p.testRun({ data: f }).retval;

  let isn = randomInt(1, 0x7fffffff);
  let port = 30000 + randomInt(0, 10000);
  const conn = (saddr: string, daddr: string, dport: number): ClaimConn => ({ saddr, daddr, sport: ++port, dport, isn: (isn += 7919) >>> 0, peerIsn: 0, synack: false });
  const claimOpt = (c: ClaimConn, identity: number, macXor = 0n) =>
    encodeClaimOption({ version: 1, epoch: EPOCH, node: SENDER, identity, mac: claimMac(pairKey(secret, SENDER, SELF, EPOCH), { identity, node: SENDER, epoch: EPOCH }, c) ^ macXor });
  const syn = (c: ClaimConn, identity?: number, macXor = 0n) =>
    tcpFrame({ saddr: c.saddr, daddr: c.daddr, sport: c.sport, dport: c.dport, seq: c.isn, flags: SYN, options: identity === undefined ? linuxSynOptions() : Buffer.concat([linuxSynOptions(), claimOpt(c, identity, macXor)]) });
  const seg = (saddr: string, daddr: string, sport: number, dport: number, flags = ACK) => tcpFrame({ saddr, daddr, sport, dport, seq: 1, ack: 1, flags });
  const settle = () => new Promise((r) => setTimeout(r, 30));
  /** Deliver what is pending, then forget it: later assertions see only their own events. */
  const resetEvents = async () => {
    await settle();
    events.length = 0;
  };

  let objs = [...baseObjects(), serverPolicy];
  dp.apply(compile(objs));
  const clientId = idOf(objs, 'x/client');
  const otherId = idOf(objs, 'x/other');

  await t.test('ingress SYN: allowed for the selected identity, dropped for another identity, no claim, a forged claim', async () => {
    const c = conn(CLIENT_IP, SERVER_IP, 80);
    assert.equal(run(to, syn(c, clientId)), OK, 'verified client');
    await resetEvents();
    assert.equal(run(to, syn(conn(OTHER_IP, SERVER_IP, 80), otherId)), SHOT, 'verified other');
    assert.equal(run(to, syn(conn(CLIENT_IP, SERVER_IP, 80))), SHOT, "no claim from the client's own address = world");
    assert.equal(run(to, syn(conn(CLIENT_IP, SERVER_IP, 80), clientId, 1n)), SHOT, 'forged MAC');
    assert.equal(run(to, syn(conn(CLIENT_IP, SERVER_IP, 81), clientId)), SHOT, 'verified client, port not allowed');
    await settle();
    const drops = events.filter((e) => e.verdict === 'drop' && e.reason === 'policy');
    assert.equal(drops.length, 4);
    assert.equal(drops[0]!.peerIdentity, otherId);
    assert.equal(drops[0]!.verified, true);
    assert.equal(drops[1]!.peerIdentity, 2);
    assert.equal(drops[1]!.verified, false);
    assert.equal(drops[0]!.pod, 'x/server');
    assert.equal(drops[0]!.direction, 'ingress');
  });

  await t.test('reply direction after an allowed SYN; unknown mid-stream packets are dropped at an isolated pod', async () => {
    const c = conn(CLIENT_IP, SERVER_IP, 80);
    assert.equal(run(to, syn(c, clientId)), OK);
    assert.equal(run(from, seg(SERVER_IP, CLIENT_IP, 80, c.sport, SYNACK)), OK, "server's SYN-ACK");
    assert.equal(run(to, seg(CLIENT_IP, SERVER_IP, c.sport, 80)), OK, "client's ACK");
    assert.equal(run(from, seg(SERVER_IP, CLIENT_IP, 80, c.sport)), OK, 'server data');
    await resetEvents();
    assert.equal(run(from, seg(SERVER_IP, CLIENT_IP, 80, c.sport + 1000)), SHOT, 'no conntrack entry');
    assert.equal(run(to, seg(OTHER_IP, SERVER_IP, 5555, 80)), SHOT, 'ACK without a handshake');
    await settle();
    assert.deepEqual(events.map((e) => `${e.direction} ${e.reason}`), ['egress no-conntrack', 'ingress no-conntrack']);
    // A FIN or RST of a flow the pod has no entry for (a straggler of a connection the other
    // side's RST just ended) is dropped too, without an event.
    await resetEvents();
    assert.equal(run(from, seg(SERVER_IP, CLIENT_IP, 80, c.sport + 1001, FIN | ACK)), SHOT, 'FIN after the entry went');
    assert.equal(run(to, seg(OTHER_IP, SERVER_IP, 5556, 80, RST)), SHOT, 'RST of an unknown flow');
    await settle();
    assert.deepEqual(events, []);
  });

  await t.test('SYN retransmission passes; the same SYN replayed after the handshake, or a new ISN on the same ports, is judged afresh', () => {
    const c = conn(CLIENT_IP, SERVER_IP, 80);
    const f = syn(c, clientId);
    assert.equal(run(to, f), OK);
    assert.equal(run(to, f), OK, 'retransmission before the handshake completes');
    assert.equal(run(to, seg(CLIENT_IP, SERVER_IP, c.sport, 80)), OK, "client's ACK");
    assert.equal(run(to, f), SHOT, 'byte-for-byte replay after the handshake: claim replay = world');
    // a genuinely new connection on the same ports (new ISN, fresh claim) is allowed
    const c2 = { ...c, isn: (c.isn + 100000) >>> 0 };
    assert.equal(run(to, syn(c2, clientId)), OK);
    // ... and a new ISN without a claim on the ports of an allowed flow is not
    const c3 = { ...c, isn: (c.isn + 200000) >>> 0 };
    assert.equal(run(to, seg(CLIENT_IP, SERVER_IP, c.sport, 80)), OK);
    assert.equal(run(to, syn(c3)), SHOT);
  });

  await t.test("a RST frees the flow's entry only when the pod's socket surely takes it: sent by the pod, or ISN + 1 from the peer that opened the flow", () => {
    const open = () => {
      const c = conn(CLIENT_IP, SERVER_IP, 80);
      assert.equal(run(to, syn(c, clientId)), OK);
      assert.equal(run(from, seg(SERVER_IP, CLIENT_IP, 80, c.sport, SYNACK)), OK);
      assert.equal(run(to, seg(CLIENT_IP, SERVER_IP, c.sport, 80)), OK);
      return c;
    };
    const rstTo = (c: ClaimConn, seq: number) => tcpFrame({ saddr: CLIENT_IP, daddr: SERVER_IP, sport: c.sport, dport: 80, seq, flags: RST });
    // a blind RST (any other sequence number) passes to the socket, which ignores it: the flow goes on
    const a = open();
    assert.equal(run(to, rstTo(a, (a.isn + 5000) >>> 0)), OK, 'RST with a wrong sequence number');
    assert.equal(run(to, seg(CLIENT_IP, SERVER_IP, a.sport, 80)), OK, 'the flow still has its entry');
    // the peer's RST at ISN + 1: the socket is reset, and so is the entry
    assert.equal(run(to, rstTo(a, (a.isn + 1) >>> 0)), OK);
    assert.equal(run(to, seg(CLIENT_IP, SERVER_IP, a.sport, 80)), SHOT, 'no entry after the exact RST');
    // the pod's own RST
    const b = open();
    assert.equal(run(from, tcpFrame({ saddr: SERVER_IP, daddr: CLIENT_IP, sport: 80, dport: b.sport, seq: 1, flags: RST | ACK })), OK);
    assert.equal(run(to, seg(CLIENT_IP, SERVER_IP, b.sport, 80)), SHOT, "no entry after the pod's RST");
  });

  await t.test('UDP: address-derived identity, replies pass, events marked address-derived', async () => {
    await resetEvents();
    assert.equal(run(to, udpFrame(CLIENT_IP, SERVER_IP, 4000, 53)), OK);
    assert.equal(run(from, udpFrame(SERVER_IP, CLIENT_IP, 53, 4000)), OK, 'reply');
    assert.equal(run(to, udpFrame(OTHER_IP, SERVER_IP, 4000, 53)), SHOT);
    assert.equal(run(to, udpFrame(EXT_IP, SERVER_IP, 4000, 53)), SHOT);
    assert.equal(run(to, udpFrame(CLIENT_IP, SERVER_IP, 4000, 54)), SHOT);
    await settle();
    assert.equal(events.length, 3);
    assert.ok(events.every((e) => e.addressDerived && !e.verified));
    assert.deepEqual(events.map((e) => e.peerIdentity), [otherId, 2, clientId]);
  });

  await t.test('ICMP echo: address-derived, only rules without ports admit it, the reply follows the request', () => {
    assert.equal(run(to, icmpEcho(CLIENT_IP, SERVER_IP, 8, 77)), SHOT, 'the server policy lists ports: no ICMP');
    const anyProto = structuredClone(serverPolicy);
    (anyProto.spec.ingress as unknown[]).push({ from: [{ podSelector: { matchLabels: { app: 'other' } } }] });
    dp.apply(compile([...baseObjects(), anyProto]));
    assert.equal(run(to, icmpEcho(OTHER_IP, SERVER_IP, 8, 78)), OK, 'a rule without ports admits every protocol');
    assert.equal(run(from, icmpEcho(SERVER_IP, OTHER_IP, 0, 78)), OK, 'echo reply');
    assert.equal(run(from, icmpEcho(SERVER_IP, OTHER_IP, 0, 79)), SHOT, 'a reply to nothing is egress, and egress is isolated');
    assert.equal(run(to, icmpEcho(CLIENT_IP, SERVER_IP, 8, 80)), SHOT);
    dp.apply(compile(objs));
  });

  await t.test('ICMP errors follow the flow they quote; errors about unknown flows are judged as ICMP', () => {
    const req = udpFrame(CLIENT_IP, SERVER_IP, 4500, 53);
    assert.equal(run(to, req), OK);
    assert.equal(run(from, icmpUnreach(SERVER_IP, CLIENT_IP, req)), OK, "the server's port-unreachable about the allowed flow");
    assert.equal(run(from, icmpUnreach(SERVER_IP, CLIENT_IP, udpFrame(CLIENT_IP, SERVER_IP, 4501, 53))), SHOT, 'about a flow that does not exist (egress is isolated)');
    assert.equal(run(from, icmpUnreach(SERVER_IP, OTHER_IP, udpFrame(OTHER_IP, SERVER_IP, 4500, 53))), SHOT, 'quoting another peer');
    // to the pod: an error about a flow the pod opened
    const out = udpFrame(SERVER_IP, EXT_IP, 5000, 9);
    assert.equal(run(to, icmpUnreach(EXT_IP, SERVER_IP, out)), SHOT, 'no such flow: an ICMP packet from world');
  });

  await t.test("egress TCP: the server's SYN-ACK claim decides the client pod's egress before the handshake completes", async () => {
    // x/server opens to x/client:8080 (allowed) and to x/other:8080 (not allowed)
    const good = conn(SERVER_IP, CLIENT_IP, 8080);
    assert.equal(run(from, syn(good)), OK, 'SYN leaves, verdict pending');
    assert.equal(run(from, seg(SERVER_IP, CLIENT_IP, good.sport, 8080)), SHOT, 'no data before the SYN-ACK verdict');
    const sa: ClaimConn = { saddr: CLIENT_IP, daddr: SERVER_IP, sport: 8080, dport: good.sport, isn: (isn += 7919) >>> 0, peerIsn: good.isn, synack: true };
    const synack = (c: ClaimConn, identity: number | undefined) =>
      tcpFrame({ saddr: c.saddr, daddr: c.daddr, sport: c.sport, dport: c.dport, seq: c.isn, ack: c.peerIsn + 1, flags: SYNACK, options: identity === undefined ? linuxSynOptions() : Buffer.concat([linuxSynOptions(), claimOpt(c, identity)]) });
    assert.equal(run(to, synack(sa, clientId)), OK, 'verified server identity allowed');
    assert.equal(run(to, synack(sa, clientId)), OK, 'SYN-ACK retransmission');
    assert.equal(run(from, seg(SERVER_IP, CLIENT_IP, good.sport, 8080)), OK, 'established');
    // a new attempt on the same ports: the previous attempt's SYN-ACK (it acknowledges the old
    // SYN; its claim is genuine) is refused, the one answering the new SYN passes
    const again: ClaimConn = { ...good, isn: (isn += 7919) >>> 0 };
    assert.equal(run(from, syn(again)), OK, 'new SYN on the same ports');
    assert.equal(run(to, synack(sa, clientId)), SHOT, "the previous attempt's SYN-ACK, replayed");
    const sa2: ClaimConn = { ...sa, isn: (isn += 7919) >>> 0, peerIsn: again.isn };
    assert.equal(run(to, synack(sa2, clientId)), OK, 'the SYN-ACK answering the new SYN');

    const bad = conn(SERVER_IP, OTHER_IP, 8080);
    assert.equal(run(from, syn(bad)), OK);
    await resetEvents();
    const sb: ClaimConn = { saddr: OTHER_IP, daddr: SERVER_IP, sport: 8080, dport: bad.sport, isn: (isn += 7919) >>> 0, peerIsn: bad.isn, synack: true };
    assert.equal(run(to, synack(sb, otherId)), SHOT, 'verified other identity: egress denies');
    assert.equal(run(to, synack(sb, otherId)), SHOT, 'and its retransmission (no pending entry any more)');
    // an attacker answering for x/client's address without its claim is world
    const spoof = conn(SERVER_IP, CLIENT_IP, 8080);
    assert.equal(run(from, syn(spoof)), OK);
    const ss: ClaimConn = { saddr: CLIENT_IP, daddr: SERVER_IP, sport: 8080, dport: spoof.sport, isn: 99, peerIsn: spoof.isn, synack: true };
    assert.equal(run(to, synack(ss, undefined)), SHOT, 'SYN-ACK without claim from an allowed address');
    await settle();
    assert.equal(events.length, 3);
    assert.equal(events[0]!.direction, 'egress');
    assert.equal(events[1]!.reason, 'unsolicited-synack');
    assert.equal(events[0]!.peerIdentity, otherId);
  });

  await t.test('a new revision without the allow cuts an established flow at its next packet; still-allowed flows continue', async () => {
    const cut = conn(CLIENT_IP, SERVER_IP, 80);
    assert.equal(run(to, syn(cut, clientId)), OK);
    assert.equal(run(to, udpFrame(CLIENT_IP, SERVER_IP, 4100, 53)), OK);
    const rev0 = dp.revision;
    // same objects again: new revision, same verdicts
    dp.apply(compile(objs));
    assert.equal(dp.revision, rev0 + 1);
    assert.equal(run(to, seg(CLIENT_IP, SERVER_IP, cut.sport, 80)), OK, 'still allowed after re-evaluation');
    // the policy now allows only UDP
    const udpOnly = structuredClone(serverPolicy);
    udpOnly.spec.ingress[0]!.ports = [{ port: 53, protocol: 'UDP' }] as never;
    objs = [...baseObjects(), udpOnly];
    dp.apply(compile(objs));
    await resetEvents();
    assert.equal(run(to, seg(CLIENT_IP, SERVER_IP, cut.sport, 80)), SHOT, 'TCP flow revoked');
    assert.equal(run(from, seg(SERVER_IP, CLIENT_IP, 80, cut.sport)), SHOT, 'its entry is gone');
    assert.equal(run(from, udpFrame(SERVER_IP, CLIENT_IP, 53, 4100)), OK, 'UDP flow still allowed');
    await settle();
    assert.equal(events[0]?.reason, 'revoked');
  });

  await t.test("a label change of the peer cuts its established connection (its address's identity changes)", async () => {
    objs = [...baseObjects(), serverPolicy];
    dp.apply(compile(objs));
    const c = conn(CLIENT_IP, SERVER_IP, 80);
    assert.equal(run(to, syn(c, clientId)), OK);
    assert.equal(run(to, seg(CLIENT_IP, SERVER_IP, c.sport, 80)), OK);
    objs = [...baseObjects({ app: 'renamed' }), serverPolicy];
    dp.apply(compile(objs));
    assert.equal(run(to, seg(CLIENT_IP, SERVER_IP, c.sport, 80)), SHOT);
  });

  await t.test('a flood of drops is reported up to the per-CPU event budget; the rest is counted as lost', async () => {
    objs = [...baseObjects(), serverPolicy];
    dp.apply(compile(objs));
    await resetEvents();
    const lost0 = dp.eventsLost();
    const flood = 4000 * availableParallelism();
    const denied = syn(conn(OTHER_IP, SERVER_IP, 80), otherId);
    assert.equal(to.testRun({ data: denied, repeat: flood }).retval, SHOT);
    await settle();
    const lost = dp.eventsLost() - lost0;
    t.diagnostic(`${flood} drops: ${events.length} events, ${lost} lost`);
    assert.ok(events.length >= 1, 'the first drops are reported');
    // POD_EV_BURST (1000) per CPU the run touched, plus the refill (1000/s per CPU) while it ran
    assert.ok(events.length <= 2000 * availableParallelism(), `at most the burst (+ refill) is reported, got ${events.length}`);
    assert.equal(events.length + lost, flood, 'every drop is either reported or counted');
    await resetEvents();
  });

  await t.test('DifwPolicy: deny wins over an allow; audit mode reports and passes', async () => {
    const deny = {
      apiVersion: 'difw.io/v1',
      kind: 'DifwPolicy',
      metadata: { name: 'deny-client-dns', namespace: 'x' },
      spec: { podSelector: { matchLabels: { app: 'server' } }, ingress: [{ action: 'deny', from: [{ podSelector: { matchLabels: { app: 'client' } } }], ports: [{ port: 53, protocol: 'UDP' }] }] },
    };
    objs = [...baseObjects(), serverPolicy, deny];
    dp.apply(compile(objs));
    assert.equal(run(to, udpFrame(CLIENT_IP, SERVER_IP, 4200, 53)), SHOT, 'deny wins');
    assert.equal(run(to, syn(conn(CLIENT_IP, SERVER_IP, 80), clientId)), OK, 'other allowed traffic unaffected');
    const audit = { ...deny, spec: { ...deny.spec, audit: true } };
    objs = [...baseObjects(), serverPolicy, audit];
    dp.apply(compile(objs));
    await resetEvents();
    assert.equal(run(to, udpFrame(CLIENT_IP, SERVER_IP, 4300, 53)), OK, 'audit passes');
    await settle();
    assert.equal(events.length, 1);
    assert.equal(events[0]!.verdict, 'audit');
  });

  await t.test('IPv6: ipBlock prefixes and except in the LPM ipcache', () => {
    const v6pol = {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { name: 'v6', namespace: 'x' },
      spec: { podSelector: { matchLabels: { app: 'server' } }, ingress: [{ from: [{ ipBlock: { cidr: '2001:db8:1::/48', except: ['2001:db8:1:ff::/64'] } }], ports: [{ port: 53, protocol: 'UDP' }] }] },
    };
    const v6server = pod('x', 'server', { app: 'server' }, '2001:db8:99::10', 'node-1');
    objs = [ns('x'), v6server, v6pol];
    dp.apply(compile(objs));
    assert.equal(run(to, udp6Frame('2001:db8:1::5', '2001:db8:99::10', 4000, 53)), OK);
    assert.equal(run(to, udp6Frame('2001:db8:1:ff::5', '2001:db8:99::10', 4000, 53)), SHOT, 'in the except');
    assert.equal(run(to, udp6Frame('2001:db8:2::5', '2001:db8:99::10', 4000, 53)), SHOT, 'outside the block');
    assert.equal(run(to, udp6Frame('2001:db8:1::5', '2001:db8:99::10', 4000, 54)), SHOT, 'other port');
    // families never mix: an IPv6 ::/0 block admits no IPv4 peer
    const all6 = structuredClone(v6pol);
    all6.spec.ingress[0]!.from = [{ ipBlock: { cidr: '::/0' } }] as never;
    objs = [ns('x'), pod('x', 'server', { app: 'server' }, SERVER_IP, 'node-1'), all6];
    dp.apply(compile(objs));
    assert.equal(run(to, udpFrame(EXT_IP, SERVER_IP, 4000, 53)), SHOT, 'IPv4 peer vs ::/0');
    assert.equal(run(to, udp6Frame('2001:db8:5::5', SERVER_IP, 4000, 53)), OK, 'IPv6 peer vs ::/0');
  });

  await t.test('apply leaves exactly one generation of entries in the maps', () => {
    const tables = compile([...baseObjects(), serverPolicy]);
    for (let i = 0; i < 3; i++) dp.apply(tables);
    const count = (name: string) => [...dp.object.map(name).keys()].length;
    assert.equal(count('pod_policy'), tables.policy.length);
    assert.equal(count('pod_ipcache'), tables.ipcache.length);
    assert.equal(count('pod_endpoints'), 1, 'only the pod behind lo resolves');
  });

  await t.test('a restarted loader reuses the pinned maps: conntrack survives, revision continues, stale entries go', async () => {
    objs = [...baseObjects(), serverPolicy];
    const tables = compile(objs);
    dp.apply(tables);
    const c = conn(CLIENT_IP, SERVER_IP, 80);
    assert.equal(run(to, syn(c, clientId)), OK);
    const rev = dp.revision;
    const dp2 = await PodDatapath.load({ pinDir, objDir: OBJDIR, onEvent: () => {} });
    try {
      assert.equal(dp2.revision, rev);
      dp2.apply(tables);
      assert.equal(dp2.revision, rev + 1);
      const to2 = dp2.object.program('pod_to');
      assert.equal(run(to2, seg(CLIENT_IP, SERVER_IP, c.sport, 80)), OK, 'established flow kept by the pinned conntrack');
      assert.equal(run(to2, syn(conn(OTHER_IP, SERVER_IP, 80), otherId)), SHOT);
      const count = (name: string) => [...dp2.object.map(name).keys()].length;
      assert.equal(count('pod_policy'), tables.policy.length);
      assert.equal(count('pod_ipcache'), tables.ipcache.length);
    } finally {
      dp2.close({ detach: false });
    }
    dp.apply(tables); // the first loader takes over again: it notices the other writer and scans
    assert.equal([...dp.object.map('pod_policy').keys()].length, tables.policy.length);
    assert.equal([...dp.object.map('pod_ipcache').keys()].length, tables.ipcache.length);
  });

  await t.test('O(1): ns per packet with 10 vs 1000 policies', (tt) => {
    const measure = (n: number) => {
      const many: unknown[] = [...baseObjects(), serverPolicy];
      for (let i = 0; i < n; i++) {
        many.push(pod('x', `p${i}`, { app: `c${i}` }, `198.19.${3 + (i >> 8)}.${i & 255}`, 'node-2'));
        many.push({
          apiVersion: 'networking.k8s.io/v1',
          kind: 'NetworkPolicy',
          metadata: { name: `p${i}`, namespace: 'x' },
          spec: { podSelector: { matchLabels: { app: 'server' } }, ingress: [{ from: [{ podSelector: { matchLabels: { app: `c${i}` } } }, { ipBlock: { cidr: `10.${i >> 8}.${i & 255}.0/24` } }], ports: [{ port: 1000 + i, protocol: 'UDP' }] }] },
        });
      }
      const c0 = process.hrtime.bigint();
      const tables = compile(many);
      const compileMs = Number(process.hrtime.bigint() - c0) / 1e6;
      const applyMs = dp.apply(tables);
      const reps = 200000;
      // a new flow each time: the full identity + policy lookup path (denied UDP: no entry is created)
      const miss = to.testRun({ data: udpFrame(OTHER_IP, SERVER_IP, 4000, 9999), repeat: reps }).durationNs;
      // an allowed flow after its first packet: one conntrack hit
      to.testRun({ data: udpFrame(CLIENT_IP, SERVER_IP, 4000, 53) });
      const hit = to.testRun({ data: udpFrame(CLIENT_IP, SERVER_IP, 4000, 53), repeat: reps }).durationNs;
      return { n, entries: tables.policy.length, ipcache: tables.ipcache.length, miss, hit, compileMs, applyMs };
    };
    const a = measure(10);
    const b = measure(1000);
    for (const r of [a, b])
      tt.diagnostic(`${r.n} policies: ${r.entries} policy + ${r.ipcache} ipcache entries (compile ${r.compileMs.toFixed(1)} ms, apply ${r.applyMs.toFixed(1)} ms); new-flow verdict ${r.miss} ns, conntrack hit ${r.hit} ns`);
    assert.ok(b.entries > 50 * a.entries, 'the large table set is really larger');
    // generous bound: O(1) means no growth with 100x the policies, beyond noise
    assert.ok(b.miss < a.miss * 2 + 100, `verdict cost grew from ${a.miss} to ${b.miss} ns`);
  });
});
