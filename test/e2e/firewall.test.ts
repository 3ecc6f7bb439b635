/**
 * End-to-end: difw enforcing ufw rules on real traffic between two network namespaces.
 * Each scenario resets the server's firewall, applies ufw commands, enables, and probes.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { bpfSkipReason, execIn, sh } from '../helpers/env.js';
import { CLIENT4, CLIENT4B, CLIENT6, Hosts, SERVER4 } from '../helpers/hosts.js';

const skip = bpfSkipReason(['xdp_ingress.bpf.o', 'tc_ingress.bpf.o', 'tc_egress.bpf.o']);

describe('host firewall, real traffic', { skip: skip ?? false, concurrency: false }, () => {
  let h: Hosts;
  before(async () => {
    h = new Hosts('fe');
    await h.listen('server', { tcp: [22, 80, 443, 8080, 8081], udp: [53, 8082] });
    await h.listen('client', { tcp: [80, 8080], udp: [] });
  });
  after(() => h?.destroy());

  const setup = (cmds: string[]) => {
    h.mustDifw(['--force', 'reset']);
    for (const c of ['default deny incoming', 'default allow outgoing', ...cmds]) h.mustDifw(c.split(' '));
    h.mustDifw(['--force', 'enable']);
  };

  it('allows what the rules allow and drops the rest (IPv4, IPv6, before-rules ICMP)', () => {
    setup(['allow 80/tcp']);
    assert.equal(h.reach('tcp', 80), 'open');
    assert.equal(h.reach('tcp', 8080), 'timeout');
    assert.equal(h.reach('udp', 53), 'timeout');
    assert.equal(h.reach('tcp', 80, CLIENT6), 'open');
    assert.equal(h.reach('tcp', 8080, CLIENT6), 'timeout');
    assert.equal(h.reach('icmp', 0), 'open', 'ufw before-rules accept echo-request');
  });

  it('rejects with TCP RST and ICMP port unreachable', () => {
    setup(['reject 8081/tcp', 'reject 8082/udp', 'deny 53/udp']);
    assert.equal(h.reach('tcp', 8081), 'refused');
    assert.equal(h.reach('udp', 8082), 'refused');
    assert.equal(h.reach('udp', 53), 'timeout');
    assert.equal(h.reach('tcp', 8081, CLIENT6), 'refused');
  });

  it('first match wins, and insert changes the order', () => {
    setup([`deny from ${CLIENT4B}`, 'allow 80/tcp']);
    assert.equal(h.reach('tcp', 80, CLIENT4), 'open');
    assert.equal(h.reach('tcp', 80, CLIENT4B), 'timeout');
    h.mustDifw(['insert', '1', 'allow', 'from', CLIENT4B, 'to', 'any', 'port', '80', 'proto', 'tcp']);
    assert.equal(h.reach('tcp', 80, CLIENT4B), 'open');
    h.mustDifw(['delete', 'allow', 'from', CLIENT4B, 'to', 'any', 'port', '80', 'proto', 'tcp']);
    assert.equal(h.reach('tcp', 80, CLIENT4B), 'timeout');
  });

  it('limit: the 6th new connection from one source within 30 s is refused', () => {
    setup(['limit 22/tcp']);
    const r = h.probe('client', [{ src: CLIENT4, dst: SERVER4, proto: 'tcp', port: 22, count: 7 }])[0] as string[];
    assert.deepEqual(r, ['open', 'open', 'open', 'open', 'open', 'refused', 'refused']);
    assert.equal(h.reach('tcp', 22, CLIENT4B), 'open', 'the limit is per source');
  });

  it('outgoing: default deny outgoing with an allow out rule; replies of allowed flows pass', () => {
    setup(['default deny outgoing', 'allow out 80/tcp', 'allow 80/tcp']);
    const out = h.probe('server', [
      { src: SERVER4, dst: CLIENT4, proto: 'tcp', port: 80 },
      { src: SERVER4, dst: CLIENT4, proto: 'tcp', port: 8080 },
    ]);
    assert.deepEqual(out, ['open', 'timeout']);
    assert.equal(h.reach('tcp', 80), 'open', 'incoming allowed connection still answers with outgoing deny');
  });

  it('interface rules match only their interface', () => {
    setup([`allow in on ${h.link.a} to any port 443 proto tcp`, 'allow in on nosuch0 to any port 8080 proto tcp']);
    assert.equal(h.reach('tcp', 443), 'open');
    assert.equal(h.reach('tcp', 8080), 'timeout');
  });

  it('attaches to interfaces that appear after enable', async () => {
    setup(['allow 80/tcp']);
    const extra = `${h.link.a.slice(0, 10)}x`;
    sh(['ip', '-n', h.server, 'link', 'add', extra, 'type', 'veth', 'peer', 'name', `${extra}p`, 'netns', h.client]);
    sh(['ip', '-n', h.server, 'addr', 'add', '198.18.61.1/24', 'dev', extra]);
    sh(['ip', '-n', h.client, 'addr', 'add', '198.18.61.2/24', 'dev', `${extra}p`]);
    sh(['ip', '-n', h.server, 'link', 'set', extra, 'up']);
    sh(['ip', '-n', h.client, 'link', 'set', `${extra}p`, 'up']);
    // a veth gets the ingress chain at TC (DIFW_INGRESS_HOOK=auto), and no XDP program
    let attached = false;
    for (let i = 0; i < 50 && !attached; i++) {
      attached = execIn(h.server, ['tc', 'filter', 'show', 'dev', extra, 'ingress']).stdout.includes('tc_ingress_fw');
      if (!attached) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(attached, 'TC ingress chain attached to the new interface within 5 s');
    assert.ok(!execIn(h.server, ['ip', 'link', 'show', extra]).stdout.includes('prog/xdp'), 'no XDP program on a veth');
    const r = h.probe('client', [
      { src: '198.18.61.2', dst: '198.18.61.1', proto: 'tcp', port: 80 },
      { src: '198.18.61.2', dst: '198.18.61.1', proto: 'tcp', port: 8080 },
    ]);
    assert.deepEqual(r, ['open', 'timeout']);
  });

  it('batch loads 10,000 rules atomically and they are enforced', () => {
    h.mustDifw(['--force', 'reset']);
    h.mustDifw(['default', 'deny', 'incoming']);
    const lines = ['# generated'];
    for (let i = 0; i < 9_999; i++) lines.push(`deny from 198.19.${i >> 8}.${i & 255} to any port ${1000 + (i % 5000)} proto tcp`);
    lines.push('allow 443/tcp');
    const t0 = Date.now();
    h.mustDifw(['batch', '-f', '-'], { input: lines.join('\n') + '\n', timeoutMs: 120_000 });
    const loadMs = Date.now() - t0;
    h.mustDifw(['--force', 'enable'], { timeoutMs: 120_000 });
    assert.equal(h.reach('tcp', 443), 'open');
    assert.equal(h.reach('tcp', 8080), 'timeout');
    // A bad line changes nothing: the rule count stays the same.
    const before = h.mustDifw(['status', 'numbered']).split('\n').length;
    const bad = h.difw(['batch', '-f', '-'], { input: 'allow 8080/tcp\nallow from 1.2.3 to any\n' });
    assert.notEqual(bad.status, 0);
    assert.equal(h.mustDifw(['status', 'numbered']).split('\n').length, before);
    assert.equal(h.reach('tcp', 8080), 'timeout');
    console.log(`# batch of 10,000 rules: ${loadMs} ms`);
  });

  it('disable removes enforcement', () => {
    setup(['allow 80/tcp']);
    assert.equal(h.reach('tcp', 8080), 'timeout');
    h.mustDifw(['--force', 'disable']);
    assert.equal(h.reach('tcp', 8080), 'open');
    assert.ok(!execIn(h.server, ['ip', 'link', 'show', h.link.a]).stdout.includes('prog/xdp'), 'XDP detached');
  });
});
