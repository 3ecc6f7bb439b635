/**
 * Real traffic through the host-firewall datapath in a pair of network namespaces made here
 * (td-a <-> td-b over a veth pair): the firewall runs on td-b's veth. Checks that rejects reach
 * the sockets as ECONNREFUSED for TCP and UDP, in both directions (inbound: XDP marks, TC
 * ingress answers; outbound: TC egress answers into the local stack), over IPv4 and IPv6, and
 * that allowed and denied ports behave (open / timeout) so the refusals are the firewall's, and
 * that an outgoing UDP drop reaches the sender as EPERM (netfilter LOCAL_OUT program).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { DEFAULT_STATE, type FirewallState, type Rule } from '../../src/ufw/model.js';
import { ensureBpffs } from '../../src/state/paths.js';

const TOOLS = join(process.cwd(), '..', 'shared', 'tools', 'fwdiff');
const tag = String(process.pid % 100000);
const NS_A = `td-a-${tag}`;
const NS_B = `td-b-${tag}`;
const IF_A = `tda${tag}`;
const IF_B = `tdb${tag}`;
const A4 = '198.18.10.1';
const B4 = '198.18.10.2';
const A6 = '2001:db8:10::1';
const B6 = '2001:db8:10::2';
const procs: ChildProcess[] = [];
const tmp = mkdtempSync(join(tmpdir(), 'difw-td-'));

const sh = (args: string[]) => execFileSync(args[0]!, args.slice(1), { stdio: 'pipe', timeout: 10000 });
const inNs = (ns: string, args: string[]) => sh(['ip', 'netns', 'exec', ns, ...args]);

after(() => {
  for (const p of procs) if (p.exitCode === null) p.kill('SIGTERM');
  spawnSync('ip', ['netns', 'del', NS_A]);
  spawnSync('ip', ['netns', 'del', NS_B]);
  rmSync(tmp, { recursive: true, force: true });
});

function rule(p: Partial<Rule>): Rule {
  return { action: 'allow', direction: 'in', forward: false, protocol: 'any', src: 'any', dst: 'any', sport: 'any', dport: 'any', sapp: '', dapp: '', ifaceIn: '', ifaceOut: '', logtype: '', v6: false, comment: '', ...p };
}

function waitLine(p: ChildProcess, want: string, ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "${want}" within ${ms} ms`)), ms);
    const rl = createInterface({ input: p.stdout! });
    rl.on('line', (l) => {
      if (l.startsWith(want)) {
        clearTimeout(timer);
        resolve();
      }
    });
    p.on('exit', (c) => {
      clearTimeout(timer);
      reject(new Error(`exited ${c} before "${want}"`));
    });
  });
}

interface Probe {
  src: string;
  dst: string;
  proto: 'tcp' | 'udp';
  port: number;
}

function probe(ns: string, probes: Probe[]): string[] {
  const out = execFileSync('ip', ['netns', 'exec', ns, 'python3', join(TOOLS, 'probe.py')], { input: JSON.stringify(probes), timeout: 20000 });
  return JSON.parse(out.toString());
}

for (const mode of ['native', 'generic', 'tc'] as const)
  test(`reject and deny on real sockets (${mode === 'tc' ? 'TC ingress hook' : `${mode} XDP`}): ECONNREFUSED inbound (TCP, UDP) and outbound (TCP), EPERM for outgoing UDP, IPv4 and IPv6`, async (t) => {
  if (process.getuid?.() !== 0) return t.skip('needs root');
  if (!existsSync('build/xdp_ingress.bpf.o') || !existsSync('dist/test/helpers/fw-child.js')) return t.skip('run make build first');
  if (!existsSync(join(TOOLS, 'probe.py'))) return t.skip(`probe tools missing at ${TOOLS}`);
  if (spawnSync('python3', ['--version']).status !== 0) return t.skip('python3 missing');
  if (!ensureBpffs()) return t.skip('bpffs not visible');

  spawnSync('ip', ['netns', 'del', NS_A]);
  spawnSync('ip', ['netns', 'del', NS_B]);
  for (const p of procs.splice(0)) if (p.exitCode === null) p.kill('SIGTERM');
  sh(['ip', 'netns', 'add', NS_A]);
  sh(['ip', 'netns', 'add', NS_B]);
  sh(['ip', 'link', 'add', IF_A, 'netns', NS_A, 'type', 'veth', 'peer', 'name', IF_B, 'netns', NS_B]);
  for (const [ns, ifn, a4, a6] of [[NS_A, IF_A, A4, A6], [NS_B, IF_B, B4, B6]] as const) {
    inNs(ns, ['ip', 'link', 'set', 'lo', 'up']);
    inNs(ns, ['ip', 'addr', 'add', `${a4}/24`, 'dev', ifn]);
    inNs(ns, ['ip', 'addr', 'add', `${a6}/64`, 'dev', ifn, 'nodad']);
    inNs(ns, ['ip', 'link', 'set', ifn, 'up']);
  }

  // listeners everywhere the firewall decides, so "refused" can only come from the firewall
  const ports = { tcp: [22, 80, 81, 9, 13], udp: [8082, 10, 11, 12] };
  for (const ns of [NS_A, NS_B]) {
    const l = spawn('ip', ['netns', 'exec', ns, 'python3', join(TOOLS, 'listener.py'), JSON.stringify(ports)], { stdio: ['ignore', 'pipe', 'inherit'] });
    procs.push(l);
    await waitLine(l, 'ready', 5000);
  }

  const pairs = [rule({ dport: '22', protocol: 'tcp' }), rule({ action: 'reject', dport: '80', protocol: 'tcp' }), rule({ action: 'reject', dport: '8082', protocol: 'udp' }), rule({ direction: 'out', action: 'reject', dport: '9', protocol: 'tcp' }), rule({ direction: 'out', action: 'reject', dport: '10', protocol: 'udp' }), rule({ direction: 'out', action: 'deny', dport: '12', protocol: 'udp' }), rule({ direction: 'out', action: 'deny', dport: '13', protocol: 'tcp' })];
  const state: FirewallState = {
    ...DEFAULT_STATE,
    enabled: true,
    logging: 'off',
    defaults: { incoming: 'deny', outgoing: 'allow', routed: 'disabled' },
    rules: pairs,
    rules6: pairs.map((r) => ({ ...r, v6: true })),
  };
  const stateFile = join(tmp, 'state.json');
  writeFileSync(stateFile, JSON.stringify(state));
  const pinDir = `/run/difw/bpffs/td-netns-${tag}`;
  const fw = spawn('ip', ['netns', 'exec', NS_B, process.execPath, 'dist/test/helpers/fw-child.js', pinDir, IF_B, stateFile, mode], { stdio: ['pipe', 'pipe', 'inherit'] });
  procs.push(fw);
  await waitLine(fw, 'ready', 15000);

  try {
    // the hook really is the one under test
    const link = execFileSync('ip', ['-n', NS_B, '-d', 'link', 'show', IF_B], { encoding: 'utf8' });
    const filters = execFileSync('ip', ['netns', 'exec', NS_B, 'tc', 'filter', 'show', 'dev', IF_B, 'ingress'], { encoding: 'utf8' });
    assert.equal(/\bprog\/xdp/.test(link), mode !== 'tc', `XDP program attached: ${link}`);
    assert.match(filters, mode === 'tc' ? /tc_ingress_fw/ : /tc_ingress\b(?!_fw)/);
    // A fresh veth needs a moment before IPv6 neighbour discovery answers: wait until each side
    // reaches the other (echo requests pass the firewall's before-rules), bounded to ~5 s.
    for (const [ns, dst] of [[NS_A, B6], [NS_B, A6], [NS_A, B4], [NS_B, A4]] as const) {
      for (let i = 0; i < 10; i++) if (spawnSync('ip', ['netns', 'exec', ns, 'ping', '-c', '1', '-W', '1', '-i', '0.2', dst], { timeout: 3000 }).status === 0) break;
    }
    const inbound: Array<[Probe, string]> = [];
    for (const [a, b] of [[A4, B4], [A6, B6]] as const) {
      inbound.push([{ src: a, dst: b, proto: 'tcp', port: 22 }, 'open']);
      inbound.push([{ src: a, dst: b, proto: 'tcp', port: 80 }, 'refused']);
      inbound.push([{ src: a, dst: b, proto: 'tcp', port: 81 }, 'timeout']);
      inbound.push([{ src: a, dst: b, proto: 'udp', port: 8082 }, 'refused']);
      inbound.push([{ src: a, dst: b, proto: 'udp', port: 11 }, 'timeout']);
    }
    const got = probe(NS_A, inbound.map(([p]) => p));
    inbound.forEach(([p, want], i) => assert.equal(got[i], want, `A -> B ${p.proto}/${p.port} (${p.dst})`));

    const outbound: Array<[Probe, string]> = [];
    for (const [a, b] of [[A4, B4], [A6, B6]] as const) {
      outbound.push([{ src: b, dst: a, proto: 'tcp', port: 9 }, 'refused']);
      outbound.push([{ src: b, dst: a, proto: 'tcp', port: 22 }, 'open']);
      // iptables' REJECT in OUTPUT drops the datagram too: send() fails with EPERM first
      outbound.push([{ src: b, dst: a, proto: 'udp', port: 10 }, 'error:EPERM']);
      outbound.push([{ src: b, dst: a, proto: 'udp', port: 11 }, 'open']);
      // an outgoing drop happens in netfilter LOCAL_OUT (nf_output): the UDP sender sees EPERM
      // like with iptables; a TCP connect retries its SYN until it times out
      outbound.push([{ src: b, dst: a, proto: 'udp', port: 12 }, 'error:EPERM']);
      outbound.push([{ src: b, dst: a, proto: 'tcp', port: 13 }, 'timeout']);
    }
    const got2 = probe(NS_B, outbound.map(([p]) => p));
    outbound.forEach(([p, want], i) => assert.equal(got2[i], want, `B -> A ${p.proto}/${p.port} (${p.dst})`));
  } finally {
    fw.kill('SIGTERM');
    await new Promise((r) => fw.once('exit', r));
  }
  // detached: the port that was refused is now open
  const after = probe(NS_A, [{ src: A4, dst: B4, proto: 'tcp', port: 80 }]);
  assert.deepEqual(after, ['open'], 'after detach the firewall no longer answers');
});

test('route rules and the routed policy judge forwarded packets; local ones meet the input chain', (t) => {
  if (process.getuid?.() !== 0) return t.skip('needs root');
  if (!existsSync('dist/test/helpers/fwd-child.js') || !existsSync('build/xdp_ingress.bpf.o')) return t.skip('run make build first');
  if (!ensureBpffs()) return t.skip('bpffs not visible');
  const NS = `td-r-${tag}`;
  const D0 = `tdf0${tag}`;
  const D1 = `tdf1${tag}`;
  try {
    sh(['ip', 'netns', 'add', NS]);
    inNs(NS, ['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
    inNs(NS, ['sysctl', '-qw', 'net.ipv6.conf.all.forwarding=1']);
    for (const [d, a4, a6] of [[D0, '198.18.20.1/24', '2001:db8:20::1/64'], [D1, '198.18.21.1/24', '2001:db8:21::1/64']] as const) {
      inNs(NS, ['ip', 'link', 'add', d, 'type', 'veth', 'peer', 'name', `${d}p`]);
      inNs(NS, ['ip', 'link', 'set', `${d}p`, 'up']);
      inNs(NS, ['ip', 'addr', 'add', a4, 'dev', d]);
      inNs(NS, ['ip', 'addr', 'add', a6, 'dev', d, 'nodad']);
      inNs(NS, ['ip', 'link', 'set', d, 'up']);
    }
    const state: FirewallState = {
      ...DEFAULT_STATE,
      enabled: true,
      logging: 'off',
      defaults: { incoming: 'deny', outgoing: 'allow', routed: 'deny' },
      rules: [rule({ forward: true, ifaceIn: D0, ifaceOut: D1, dport: '80', protocol: 'tcp' }), rule({ forward: true, action: 'reject', dport: '81', protocol: 'tcp' }), rule({ dport: '22', protocol: 'tcp' })],
      rules6: [rule({ forward: true, v6: true, ifaceIn: D0, ifaceOut: D1, dport: '80', protocol: 'tcp' })],
    };
    // frames built by hand here to keep this file free of the packet helpers' imports
    const cases: Array<[string, string, string, number, string]> = [
      // [iface, src, dst, dport, expected]
      [D0, '198.18.20.5', '198.18.21.5', 80, 'pass'], // route rule in on D0 out on D1
      [D0, '198.18.20.5', '198.18.21.5', 82, 'drop'], // routed policy deny
      [D0, '198.18.20.5', '198.18.21.5', 81, 'reject'], // route reject
      [D1, '198.18.21.5', '198.18.20.5', 80, 'drop'], // wrong direction for the rule
      [D0, '198.18.20.5', '198.18.20.1', 80, 'drop'], // local: input chain, default deny
      [D0, '198.18.20.5', '198.18.21.1', 22, 'pass'], // local address on the other interface: input rule
      [D0, '2001:db8:20::5', '2001:db8:21::5', 80, 'pass'],
      [D0, '2001:db8:20::5', '2001:db8:21::5', 82, 'drop'],
    ];
    const frames = cases.map(([iface, s, d, port]) => ({ iface, frame: synFrame(s, d, port).toString('hex') }));
    const stateFile = join(tmp, 'fwd-state.json');
    const casesFile = join(tmp, 'fwd-cases.json');
    writeFileSync(stateFile, JSON.stringify(state));
    writeFileSync(casesFile, JSON.stringify(frames));
    const out = inNs(NS, [process.execPath, 'dist/test/helpers/fwd-child.js', `/run/difw/bpffs/td-fwd-${tag}`, stateFile, casesFile]).toString();
    const res = JSON.parse(out.trim().split('\n').pop()!) as { verdicts: string[]; forwarded: number };
    cases.forEach(([iface, s, d, port, want], i) => assert.equal(res.verdicts[i], want, `${iface} ${s} -> ${d}:${port}`));
    assert.equal(res.forwarded, 6, 'six packets took the FORWARD chain');
  } finally {
    spawnSync('ip', ['netns', 'del', NS]);
  }
});

/** A TCP SYN frame with correct checksums (IPv4 or IPv6). */
function synFrame(src: string, dst: string, dport: number): Buffer {
  const v6 = src.includes(':');
  const addr = (a: string) => {
    if (!v6) return Buffer.from(a.split('.').map(Number));
    const [h, tl] = a.split('::') as [string, string?];
    const hs = h ? h.split(':') : [];
    const ts = tl ? tl.split(':') : [];
    const g = [...hs, ...Array(8 - hs.length - ts.length).fill('0'), ...ts];
    const b = Buffer.alloc(16);
    g.forEach((x, i) => b.writeUInt16BE(parseInt(x, 16), i * 2));
    return b;
  };
  const sum = (b: Buffer) => {
    let s = 0;
    for (let i = 0; i < b.length; i += 2) s += b.readUInt16BE(i);
    while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
    return ~s & 0xffff;
  };
  const S = addr(src);
  const D = addr(dst);
  const tcp = Buffer.alloc(20);
  tcp.writeUInt16BE(40000, 0);
  tcp.writeUInt16BE(dport, 2);
  tcp.writeUInt32BE(1, 4);
  tcp[12] = 0x50;
  tcp[13] = 0x02;
  tcp.writeUInt16BE(65535, 14);
  const ph = v6 ? Buffer.concat([S, D, Buffer.from([0, 0, 0, 20, 0, 0, 0, 6])]) : Buffer.concat([S, D, Buffer.from([0, 6, 0, 20])]);
  tcp.writeUInt16BE(sum(Buffer.concat([ph, tcp])), 16);
  let ip: Buffer;
  if (v6) {
    ip = Buffer.alloc(40);
    ip.writeUInt32BE(0x60000000, 0);
    ip.writeUInt16BE(20, 4);
    ip[6] = 6;
    ip[7] = 64;
    S.copy(ip, 8);
    D.copy(ip, 24);
  } else {
    ip = Buffer.alloc(20);
    ip[0] = 0x45;
    ip.writeUInt16BE(40, 2);
    ip[8] = 64;
    ip[9] = 6;
    S.copy(ip, 12);
    D.copy(ip, 16);
    ip.writeUInt16BE(sum(ip), 10);
  }
  const eth = Buffer.alloc(14);
  eth.writeUInt16BE(v6 ? 0x86dd : 0x0800, 12);
  return Buffer.concat([eth, ip, tcp]);
}
