/**
 * End to end: two network namespaces joined by a veth, each side with its own claim datapath
 * ("node" 1 = client side, "node" 2 = server side: separate pin dirs, keys, configs), sockops
 * attached to per-node cgroups created under the cgroup2 root, real TCP connections from
 * processes placed in pod cgroups. Checks, for both directions:
 *   - the SYN and SYN-ACK captured by tcpdump carry the claim and its MAC verifies in TS over
 *     the captured packet's own fields (ISN, peer ISN, ports, addresses);
 *   - later segments carry no claim (the option callbacks are switched off once established);
 *   - the kernel verifier (claim_verify through the test TC program, attached on each side's
 *     veth ingress and sharing that node's maps) reports OK for the stamped handshakes and
 *     NONE for a connection made from outside the pod cgroups;
 *   - captured frames re-sent raw are rejected in the kernel: replay, splice, flipped MAC, strip;
 *   - a key rotation across both nodes drops nothing.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, rmdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { BpfMap, struct, u32, u64, array } from '../../src/bpf/index.js';
import { ClaimDatapath, cgroupId } from '../../src/identity/claims.js';
import { newClusterSecret, nodeKeyring, pairKey } from '../../src/identity/keys.js';
import { ClaimResult, claimMac, findClaimOption } from '../../src/identity/wire.js';
import { BPFFS_ROOT, ensureBpffs, cgroup2Root } from '../../src/state/paths.js';
import { readPcap, parseTcpFrame, type ParsedTcp } from '../helpers/claim-packets.js';

const repo = resolve(import.meta.dirname, '../../..');
const OBJDIR = join(repo, 'build');
const FIXTURE = join(repo, 'build/fixtures/claim_verify_test.bpf.o');
const OBSERVER = join(repo, 'dist/test/helpers/claim-observer.js');

const testOut = struct('claim_test_out', [
  ['result', u32],
  ['identity', u32],
  ['count', u64],
  ['per_result', array(u64, 8)],
] as const);

const sh = (cmd: string, args: string[]) => execFileSync(cmd, args, { stdio: 'pipe', timeout: 10_000 }).toString();

function skipReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (netns, cgroups, BPF)';
  for (const f of [FIXTURE, join(OBJDIR, 'sockops_claim.bpf.o'), OBSERVER]) if (!existsSync(f)) return `missing ${f} (make build)`;
  for (const tool of ['tcpdump', 'python3', 'ip']) {
    try {
      execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'pipe' });
    } catch {
      return `${tool} is not installed`;
    }
  }
  return undefined;
}

const CLIENT_NODE = 1;
const SERVER_NODE = 2;
const CLIENT_ID = 1001;
const SERVER_ID = 1002;
const EPOCH = 3;
const PORT = 8080;
const V4 = { client: '198.18.77.1', server: '198.18.77.2' };
const V6 = { client: '2001:db8:77::1', server: '2001:db8:77::2' };

const SERVER_PY = `
import socket, sys
socks = []
for fam, addr in ((socket.AF_INET, sys.argv[1]), (socket.AF_INET6, sys.argv[2])):
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, ${PORT}))
    s.listen(16)
    s.settimeout(20)
    socks.append(s)
print("listening", flush=True)
import select
served = 0
while served < int(sys.argv[3]):
    r, _, _ = select.select(socks, [], [], 20)
    if not r:
        break
    for s in r:
        c, _ = s.accept()
        c.settimeout(5)
        data = c.recv(100)
        c.sendall(b"beer:" + data)
        c.close()
        served += 1
`;

const CLIENT_PY = `
import socket, sys
for addr in sys.argv[1:]:
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    s = socket.create_connection((addr, ${PORT}), timeout=5)
    s.sendall(b"hi")
    assert s.recv(100) == b"beer:hi"
    s.close()
print("done", flush=True)
`;

function waitForLine(p: ChildProcess, stream: 'stdout' | 'stderr', re: RegExp, ms: number): Promise<void> {
  return new Promise((res, rej) => {
    let buf = '';
    let err = '';
    if (stream === 'stdout') p.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => rej(new Error(`timeout waiting for ${re} (got: ${buf.slice(-300)})`)), ms);
    p[stream]!.on('data', (d: Buffer) => {
      buf += d.toString();
      if (re.test(buf)) {
        clearTimeout(timer);
        res();
      }
    });
    p.on('exit', (code) => {
      clearTimeout(timer);
      if (!re.test(buf)) rej(new Error(`process exited (${code}) before ${re}: ${buf.slice(-300)} ${err.slice(-500)}`));
    });
  });
}

/**
 * argv for running a command in netns `ns`, as a member of `cgroupDir`. The cgroup is joined
 * before entering the namespace: `ip netns exec` mounts a fresh /sys, where a cgroup2 mount
 * living under /sys (hybrid hierarchies) is not visible.
 */
function inNs(ns: string, cgroupDir: string | undefined, argv: string[]): string[] {
  const join = cgroupDir ? `echo $$ > '${cgroupDir}/cgroup.procs' && ` : '';
  return ['sh', '-c', `${join}exec ip netns exec ${ns} "$@"`, 'sh', ...argv];
}

function runIn(ns: string, cgroupDir: string | undefined, argv: string[], timeoutMs: number): string {
  const [cmd, ...args] = inNs(ns, cgroupDir, argv);
  return execFileSync(cmd!, args, { stdio: 'pipe', timeout: timeoutMs }).toString();
}

/** Results of the in-kernel verifier observing one veth end (pinned claim_test_out). */
function readObserver(pin: string) {
  const m = BpfMap.openPinned(pin);
  try {
    const v = m.lookup(Buffer.alloc(4));
    assert.ok(v, `observer map ${pin} has its entry`);
    const o = testOut.decode(v);
    return { count: Number(o.count), identity: o.identity, per: o.per_result.map(Number) };
  } finally {
    m.close();
  }
}

interface TwoNodes {
  nsC: string;
  ifC: string;
  nsS: string;
  ifS: string;
  cgClient: string;
  cgServer: string;
  pinBase: string;
  outA: string;
  outB: string;
  work: string;
  procs: ChildProcess[];
  secret: Buffer;
  dpA: ClaimDatapath;
  dpB: ClaimDatapath;
}

/**
 * Two "nodes": client netns + node-1 claim datapath (cgroup node1, pod cgroup node1/client),
 * server netns + node-2 claim datapath (node2, node2/server), a veth between the namespaces,
 * and the in-kernel verifier observing ingress on both veth ends. Everything is removed by
 * t.after, in reverse order of creation.
 */
async function twoNodes(t: TestContext, suffix: string): Promise<TwoNodes> {
  const cleanups: (() => void)[] = [];
  t.after(() => {
    for (const f of cleanups.reverse()) {
      try {
        f();
      } catch { /* best effort: keep cleaning */ }
    }
  });
  ensureBpffs();
  const tag = `${process.pid % 10000}${suffix}`;
  const nsC = `tk-c${tag}`;
  const nsS = `tk-s${tag}`;
  const ifC = `tkc${tag}`;
  const ifS = `tks${tag}`;
  const cgBase = join(cgroup2Root(), `tk-${process.pid}${suffix}`);
  const cgNodeA = join(cgBase, 'node1');
  const cgNodeB = join(cgBase, 'node2');
  const cgClient = join(cgNodeA, 'client');
  const cgServer = join(cgNodeB, 'server');
  const pinBase = join(BPFFS_ROOT, `tk-e2e-${process.pid}${suffix}`);
  const pinA = join(pinBase, 'node1');
  const pinB = join(pinBase, 'node2');
  const work = mkdtempSync(join(tmpdir(), 'tk-claim-'));
  const procs: ChildProcess[] = [];

  cleanups.push(() => rmSync(work, { recursive: true, force: true }));
  cleanups.push(() => rmSync(pinBase, { recursive: true, force: true }));
  cleanups.push(() => {
    for (const d of [cgClient, cgServer, cgNodeA, cgNodeB, cgBase]) {
      try {
        rmdirSync(d);
      } catch { /* not there or busy */ }
    }
  });
  cleanups.push(() => {
    for (const ns of [nsC, nsS]) {
      try {
        sh('ip', ['netns', 'del', ns]);
      } catch { /* not there */ }
    }
  });
  cleanups.push(() => {
    for (const p of procs) if (p.exitCode === null && p.pid) {
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch { /* gone */ }
    }
  });

  // Topology.
  sh('ip', ['netns', 'add', nsC]);
  sh('ip', ['netns', 'add', nsS]);
  sh('ip', ['link', 'add', ifC, 'netns', nsC, 'type', 'veth', 'peer', 'name', ifS, 'netns', nsS]);
  for (const [ns, ifn, a4, a6] of [[nsC, ifC, V4.client, V6.client], [nsS, ifS, V4.server, V6.server]] as const) {
    sh('ip', ['-n', ns, 'addr', 'add', `${a4}/24`, 'dev', ifn]);
    sh('ip', ['-n', ns, 'addr', 'add', `${a6}/64`, 'dev', ifn, 'nodad']);
    sh('ip', ['-n', ns, 'link', 'set', ifn, 'up']);
    sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  }
  for (const d of [cgBase, cgNodeA, cgNodeB, cgClient, cgServer]) mkdirSync(d);

  // Two nodes' claim datapaths.
  const secret = newClusterSecret();
  const dpA = ClaimDatapath.load({ pinDir: pinA, objDir: OBJDIR });
  cleanups.push(() => dpA.close());
  const dpB = ClaimDatapath.load({ pinDir: pinB, objDir: OBJDIR });
  cleanups.push(() => dpB.close());
  dpA.attachCgroup(cgNodeA);
  dpB.attachCgroup(cgNodeB);
  for (const [dp, self, peer, local, localId, peerId, peerAddrs] of [
    [dpA, CLIENT_NODE, SERVER_NODE, cgClient, CLIENT_ID, SERVER_ID, [V4.server, V6.server]],
    [dpB, SERVER_NODE, CLIENT_NODE, cgServer, SERVER_ID, CLIENT_ID, [V4.client, V6.client]],
  ] as const) {
    dp.setNode(self);
    dp.installKeys(nodeKeyring(secret, self, [CLIENT_NODE, SERVER_NODE], [EPOCH]), { sendEpoch: EPOCH });
    dp.setLocalIdentity(local, localId);
    for (const a of peerAddrs) dp.setPeer(a, peer);
    dp.setHosted(peer, peerId, true);
  }
  assert.equal(cgroupId(cgClient) > 0n, true);

  // In-kernel verifiers on both veth ends (ingress), each on its node's maps.
  const outA = join(pinBase, 'out_client');
  const outB = join(pinBase, 'out_server');
  runIn(nsC, undefined, [process.execPath, OBSERVER, FIXTURE, pinA, ifC, outA], 15_000);
  runIn(nsS, undefined, [process.execPath, OBSERVER, FIXTURE, pinB, ifS, outB], 15_000);

  return { nsC, nsS, ifC, ifS, cgClient, cgServer, pinBase, outA, outB, work, procs, secret, dpA, dpB };
}

test('TCP handshakes carry claims that verify in TS and in the kernel', async (t) => {
  const why = skipReason();
  if (why) {
    t.skip(why);
    return;
  }
  ensureBpffs();
  const { nsS, nsC, ifC, ifS, cgClient, cgServer, outA, outB, work, procs, secret, dpA, dpB } = await twoNodes(t, 'a');

  // Capture on the server side.
  const pcap = join(work, 'cap.pcap');
  const dump = spawn('ip', ['netns', 'exec', nsS, 'tcpdump', '--immediate-mode', '-U', '-n', '-i', ifS, '-w', pcap, '-c', '200', 'tcp', 'port', String(PORT)], { stdio: ['ignore', 'pipe', 'pipe'] });
  procs.push(dump);
  await waitForLine(dump, 'stderr', /listening on/, 10_000);

  // Server in its pod cgroup: 4 stamped connections (v4, v6, v4 from a dual-stack AF_INET6
  // socket through ::ffff:a.b.c.d, v4) + 1 unstamped.
  writeFileSync(join(work, 'server.py'), SERVER_PY);
  writeFileSync(join(work, 'client.py'), CLIENT_PY);
  const [scmd, ...sargs] = inNs(nsS, cgServer, ['python3', join(work, 'server.py'), V4.server, V6.server, '5']);
  const server = spawn(scmd!, sargs, { stdio: ['ignore', 'pipe', 'pipe'] });
  procs.push(server);
  await waitForLine(server, 'stdout', /listening/, 10_000);

  assert.match(runIn(nsC, cgClient, ['python3', join(work, 'client.py'), V4.server, V6.server, `::ffff:${V4.server}`, V4.server], 20_000), /done/);
  // Control: the same client outside any pod cgroup gets no claim.
  assert.match(runIn(nsC, undefined, ['python3', join(work, 'client.py'), V4.server], 20_000), /done/);
  await new Promise<void>((res) => (server.exitCode !== null ? res() : server.on('exit', () => res())));
  await sleep(1000);
  if (dump.pid) process.kill(dump.pid, 'SIGTERM');
  await new Promise<void>((res) => (dump.exitCode !== null ? res() : dump.on('exit', () => res())));

  // 1. The capture: recompute every MAC in TS.
  const { linktype, frames } = readPcap(readFileSync(pcap));
  const pkts = frames.map((f) => parseTcpFrame(f.data, linktype)).filter((p): p is ParsedTcp => p !== undefined);
  const syns = pkts.filter((p) => (p.flags & 0x12) === 0x02);
  const synacks = pkts.filter((p) => (p.flags & 0x12) === 0x12);
  const others = pkts.filter((p) => (p.flags & 0x02) === 0);
  assert.equal(syns.length, 5, 'five SYNs captured');
  assert.equal(synacks.length, 5, 'five SYN-ACKs captured');
  assert.ok(others.length >= 12, 'data/ACK/FIN segments captured');
  const key = pairKey(secret, CLIENT_NODE, SERVER_NODE, EPOCH);
  const norm = (a: string) => (a.includes(':') ? a.replace(/(^|:)0+(?=[0-9a-f])/g, '$1') : a);
  let stampedSyns = 0;
  for (const p of syns) {
    const claim = findClaimOption(p.options);
    const fromPod = p.sport !== syns[syns.length - 1]!.sport; // the last connection is the unstamped control
    if (!fromPod) {
      assert.equal(claim, undefined, 'no claim from outside the pod cgroups');
      continue;
    }
    assert.ok(claim, `SYN ${p.saddr}:${p.sport} carries a claim`);
    assert.deepEqual({ v: claim.version, n: claim.node, i: claim.identity, e: claim.epoch }, { v: 1, n: CLIENT_NODE, i: CLIENT_ID, e: EPOCH });
    const mac = claimMac(key, claim, { saddr: norm(p.saddr), daddr: norm(p.daddr), sport: p.sport, dport: p.dport, isn: p.seq, peerIsn: 0, synack: false });
    assert.equal(claim.mac, mac, 'SYN MAC recomputed over the captured packet');
    stampedSyns++;
  }
  assert.equal(stampedSyns, 4);
  for (const p of synacks) {
    const claim = findClaimOption(p.options);
    assert.ok(claim, `SYN-ACK to ${p.daddr}:${p.dport} carries a claim`);
    assert.deepEqual({ n: claim.node, i: claim.identity }, { n: SERVER_NODE, i: SERVER_ID });
    const mac = claimMac(key, claim, { saddr: norm(p.saddr), daddr: norm(p.daddr), sport: p.sport, dport: p.dport, isn: p.seq, peerIsn: (p.ack - 1) >>> 0, synack: true });
    assert.equal(claim.mac, mac, 'SYN-ACK MAC recomputed, binding the client ISN');
  }
  for (const p of others) assert.equal(findClaimOption(p.options), undefined, 'no claim after the handshake');

  // 2. The kernel verifiers.
  const srv = readObserver(outB);
  const cli = readObserver(outA);
  t.diagnostic(`server-side verifier: ${JSON.stringify(srv.per)}; client-side: ${JSON.stringify(cli.per)}`);
  assert.equal(srv.per[ClaimResult.OK], 4, 'server node verified the 4 stamped SYNs');
  assert.equal(srv.per[ClaimResult.NONE], 1, 'server node saw 1 unstamped SYN');
  assert.equal(srv.count, 5);
  assert.equal(cli.per[ClaimResult.OK], 5, 'client node verified the 5 SYN-ACKs');
  assert.equal(cli.identity, SERVER_ID);
  const sa = dpA.stats();
  const sb = dpB.stats();
  assert.equal(sa.STAMP_SYN, 4);
  assert.equal(sb.STAMP_SYNACK, 5);
  assert.equal(sb.VERIFY_OK, 4);
  assert.equal(sa.VERIFY_OK, 5);

  // 3. Real frames on the wire, re-sent raw from the client side (AF_PACKET): the server node's
  // kernel verifier rejects a byte-for-byte replay of a captured SYN, the same claim spliced
  // onto another source port, a flipped MAC bit and the stripped claim.
  const synFrame = frames.map((f) => f.data).find((d) => {
    const p = parseTcpFrame(d, linktype);
    return p && (p.flags & 0x12) === 0x02 && findClaimOption(p.options) !== undefined && !p.saddr.includes(':');
  });
  assert.ok(synFrame && linktype === 1, 'a stamped IPv4 SYN captured as Ethernet');
  const l4 = 14 + (synFrame[14]! & 0xf) * 4;
  const doff = (synFrame[l4 + 12]! >> 4) * 4;
  const claimAt = synFrame.subarray(l4 + 20, l4 + doff).indexOf(Buffer.from('fe14d1f0', 'hex')) + l4 + 20;
  const spliced = Buffer.from(synFrame);
  spliced.writeUInt16BE(spliced.readUInt16BE(l4) ^ 1, l4);
  const flipped = Buffer.from(synFrame);
  flipped[claimAt + 12]! ^= 0x01;
  const stripped = Buffer.from(synFrame);
  stripped.fill(1, claimAt, claimAt + 20); // NOPs where the claim was
  const SEND_PY = `
import socket, sys
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((sys.argv[1], 0))
for h in sys.argv[2:]:
    s.send(bytes.fromhex(h))
print("sent", flush=True)
`;
  writeFileSync(join(work, 'send.py'), SEND_PY);
  const before = readObserver(outB);
  const sent = [synFrame, spliced, flipped, stripped].map((b) => b.toString('hex'));
  assert.match(runIn(nsC, undefined, ['python3', join(work, 'send.py'), ifC, ...sent], 10_000), /sent/);
  let after = readObserver(outB);
  for (let i = 0; i < 50 && after.count < before.count + 4; i++) {
    await sleep(20);
    after = readObserver(outB);
  }
  const delta = after.per.map((v, i) => v - before.per[i]!);
  t.diagnostic(`server-side verifier on re-sent frames: ${JSON.stringify(delta)}`);
  assert.equal(delta[ClaimResult.REPLAY], 1, 'captured SYN replayed byte for byte');
  assert.equal(delta[ClaimResult.BAD_MAC], 2, 'claim spliced onto another port, and a flipped MAC bit');
  assert.equal(delta[ClaimResult.NONE], 1, 'stripped claim');
  assert.equal(delta[ClaimResult.OK], 0);

  // 4. A relabelled workload: the sender's per-CPU plan memo must not outlive the change. The
  // next SYN from the same cgroup to the same server carries the new identity.
  const RELABELLED = CLIENT_ID + 1;
  dpA.setLocalIdentity(cgClient, RELABELLED);
  dpB.setHosted(CLIENT_NODE, RELABELLED, true);
  const [s2cmd, ...s2args] = inNs(nsS, cgServer, ['python3', join(work, 'server.py'), V4.server, V6.server, '1']);
  const server2 = spawn(s2cmd!, s2args, { stdio: ['ignore', 'pipe', 'pipe'] });
  procs.push(server2);
  await waitForLine(server2, 'stdout', /listening/, 10_000);
  const okBefore = readObserver(outB).per[ClaimResult.OK]!;
  assert.match(runIn(nsC, cgClient, ['python3', join(work, 'client.py'), V4.server], 20_000), /done/);
  const relabelled = readObserver(outB);
  assert.equal(relabelled.per[ClaimResult.OK], okBefore + 1, 'the relabelled SYN verified');
  assert.equal(relabelled.identity, RELABELLED, 'and carried the new identity');
});

const ECHO_SERVER_PY = `
import socket, sys, threading
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], ${PORT}))
s.listen(16)
s.settimeout(60)
print("listening", flush=True)
def serve(c):
    c.settimeout(60)
    while True:
        d = c.recv(100)
        if not d:
            break
        c.sendall(b"beer:" + d)
    c.close()
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
`;

/** A long-lived connection: each stdin line is sent, the answer printed. */
const LONG_CLIENT_PY = `
import socket, sys
s = socket.create_connection((sys.argv[1], ${PORT}), timeout=10)
print("connected", flush=True)
for line in sys.stdin:
    s.sendall(line.strip().encode())
    print(s.recv(100).decode(), flush=True)
`;

test('key rotation: no established connection is dropped, every handshake verifies', async (t) => {
  const why = skipReason();
  if (why) {
    t.skip(why);
    return;
  }
  const { nsS, nsC, cgClient, cgServer, outA, outB, work, procs, secret, dpA, dpB } = await twoNodes(t, 'b');
  writeFileSync(join(work, 'server.py'), ECHO_SERVER_PY);
  writeFileSync(join(work, 'long.py'), LONG_CLIENT_PY);
  writeFileSync(join(work, 'client.py'), CLIENT_PY);
  const [scmd, ...sargs] = inNs(nsS, cgServer, ['python3', join(work, 'server.py'), V4.server]);
  const server = spawn(scmd!, sargs, { stdio: ['ignore', 'pipe', 'pipe'] });
  procs.push(server);
  await waitForLine(server, 'stdout', /listening/, 10_000);

  const [lcmd, ...largs] = inNs(nsC, cgClient, ['python3', join(work, 'long.py'), V4.server]);
  const long = spawn(lcmd!, largs, { stdio: ['pipe', 'pipe', 'pipe'] });
  procs.push(long);
  await waitForLine(long, 'stdout', /connected/, 10_000);
  let longOut = '';
  long.stdout!.on('data', (d: Buffer) => (longOut += d.toString()));
  const say = async (word: string) => {
    long.stdin!.write(`${word}\n`);
    const until = Date.now() + 5000;
    while (!longOut.includes(`beer:${word}`)) {
      assert.ok(Date.now() < until, `long-lived connection answered ${word} (got ${JSON.stringify(longOut)})`);
      await sleep(20);
    }
  };
  const connect = () => assert.match(runIn(nsC, cgClient, ['python3', join(work, 'client.py'), V4.server], 20_000), /done/);
  const both = [
    { dp: dpA, self: CLIENT_NODE },
    { dp: dpB, self: SERVER_NODE },
  ];
  const keys = (self: number, epochs: number[]) => nodeKeyring(secret, self, [CLIENT_NODE, SERVER_NODE], epochs);
  const NEXT = EPOCH + 1;

  await say('before');
  connect();
  // 1. Keys of the next epoch everywhere, nobody stamps with it yet.
  for (const n of both) n.dp.installKeys(keys(n.self, [EPOCH, NEXT]));
  connect();
  // 2. Half-way: the client's node switched, the server's not yet. Both directions verify.
  dpA.setEpoch(NEXT);
  connect();
  await say('halfway');
  dpB.setEpoch(NEXT);
  connect();
  // 3. The old epoch is gone everywhere.
  for (const n of both) n.dp.installKeys(keys(n.self, [NEXT]));
  assert.deepEqual(dpA.keyIds().map((k) => k.epoch).sort(), [NEXT, NEXT]);
  connect();
  await say('after');

  const srv = readObserver(outB);
  const cli = readObserver(outA);
  t.diagnostic(`server-side verifier: ${JSON.stringify(srv.per)}; client-side: ${JSON.stringify(cli.per)}`);
  // 1 long-lived + 5 short connections, each verified on both nodes, nothing rejected.
  assert.equal(srv.per[ClaimResult.OK], 6, 'every SYN verified on the server node');
  assert.equal(cli.per[ClaimResult.OK], 6, 'every SYN-ACK verified on the client node');
  assert.equal(srv.count, 6);
  assert.equal(cli.count, 6);
  assert.equal(dpA.config().sendEpoch, NEXT);
  long.stdin!.end();
});

/** TCP-MD5 on both ends (the kernel then leaves no room for 20 more option bytes). */
const MD5_PY = `
import socket, struct, sys
role, local, peer = sys.argv[1], sys.argv[2], sys.argv[3]
def md5(s, addr):
    sa = struct.pack("=H", socket.AF_INET) + struct.pack("!H", 0) + socket.inet_aton(addr)
    sa = sa.ljust(128, b"\\0")
    key = b"difw-md5-test"
    s.setsockopt(socket.IPPROTO_TCP, 14, sa + struct.pack("=BBHi", 0, 0, len(key), 0) + key.ljust(80, b"\\0"))
if role == "server":
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    md5(s, peer); s.bind((local, ${PORT + 1})); s.listen(4); s.settimeout(20)
    print("listening", flush=True)
    c, _ = s.accept(); c.sendall(b"beer:" + c.recv(100)); c.close()
else:
    s = socket.socket(); md5(s, peer); s.settimeout(5); s.connect((peer, ${PORT + 1}))
    s.sendall(b"hi"); assert s.recv(100) == b"beer:hi"; print("done", flush=True)
`;

test('no room for the claim (TCP-MD5): the handshake goes out unstamped, counted, and connects', async (t) => {
  const why = skipReason();
  if (why) {
    t.skip(why);
    return;
  }
  const { nsS, nsC, cgClient, cgServer, outB, work, procs, dpA, dpB } = await twoNodes(t, 'c');
  writeFileSync(join(work, 'md5.py'), MD5_PY);
  const [scmd, ...sargs] = inNs(nsS, cgServer, ['python3', join(work, 'md5.py'), 'server', V4.server, V4.client]);
  const server = spawn(scmd!, sargs, { stdio: ['ignore', 'pipe', 'pipe'] });
  procs.push(server);
  await waitForLine(server, 'stdout', /listening/, 10_000);
  assert.match(runIn(nsC, cgClient, ['python3', join(work, 'md5.py'), 'client', V4.client, V4.server], 20_000), /done/);
  const a = dpA.stats();
  const b = dpB.stats();
  t.diagnostic(`client node: SKIP_SPACE ${a.SKIP_SPACE} STAMP_SYN ${a.STAMP_SYN}; server node: SKIP_SPACE ${b.SKIP_SPACE} STAMP_SYNACK ${b.STAMP_SYNACK}`);
  assert.equal(a.STAMP_SYN, 0);
  assert.ok(a.SKIP_SPACE >= 1, 'the client SYN had no room');
  assert.equal(b.STAMP_SYNACK, 0);
  assert.ok(b.SKIP_SPACE >= 1, 'the server SYN-ACK had no room');
  const srv = readObserver(outB);
  assert.equal(srv.per[ClaimResult.NONE], 1, 'the server node saw an unstamped SYN (world)');
  assert.equal(srv.per[ClaimResult.OK], 0);
});
