/**
 * End-to-end: the agent is killed with SIGKILL in the middle of an iperf3 transfer and started
 * again with `difw --force enable`. The transfer must not stall or fail (established
 * connections survive: conntrack is pinned, programs stay attached), and a denied port must never
 * answer at any moment (no gap in enforcement).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { bpfSkipReason, REPO } from '../helpers/env.js';
import { CLIENT4, Hosts, SERVER4 } from '../helpers/hosts.js';

const skip =
  bpfSkipReason(['xdp_ingress.bpf.o', 'tc_ingress.bpf.o', 'tc_egress.bpf.o']) ??
  (spawnSync('iperf3', ['--version']).status === 0 ? null : 'needs iperf3');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface IperfInterval {
  sum: { bytes: number; start: number; end: number };
}

describe('agent kill -9 during a transfer', { skip: skip ?? false }, () => {
  let h: Hosts;
  before(async () => {
    h = new Hosts('fk');
    await h.listen('server', { tcp: [8080], udp: [] });
  });
  after(() => h?.destroy());

  it('keeps the transfer going and never lets denied traffic through', async () => {
    h.mustDifw(['--force', 'reset']);
    h.mustDifw(['default', 'deny', 'incoming']);
    h.mustDifw(['allow', '5201/tcp']);
    h.mustDifw(['--force', 'enable']);
    const oldPid = h.agentPid();
    assert.ok(oldPid, 'agent pid file written');

    const server = spawn('ip', ['netns', 'exec', h.server, 'iperf3', '-s', '-1', '-B', SERVER4], { stdio: 'ignore' });
    await sleep(500);
    const client = spawn('ip', ['netns', 'exec', h.client, 'iperf3', '-c', SERVER4, '-B', CLIENT4, '-t', '8', '-i', '1', '-J'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    client.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    const done = new Promise<number>((r) => client.on('exit', (c) => r(c ?? -1)));
    try {
      await sleep(2000);
      process.kill(oldPid!, 'SIGKILL');
      const killedAt = Date.now();
      // While no agent runs, and while the new one takes over, the denied port stays closed.
      // The prober runs in its own process (each probe waits up to 0.5 s): about 4 s of probing.
      const prober = spawn('ip', ['netns', 'exec', h.client, 'python3', join(REPO, 'test', 'fixtures', 'netprobe.py'), 'probe'], {
        stdio: ['pipe', 'pipe', 'inherit'],
      });
      prober.stdin!.end(JSON.stringify([{ src: CLIENT4, dst: SERVER4, proto: 'tcp', port: 8080, count: 8 }]));
      let probeOut = '';
      prober.stdout!.on('data', (c: Buffer) => (probeOut += c.toString()));
      const proberDone = new Promise<void>((r) => prober.on('exit', () => r()));
      await sleep(1000);
      const enable = spawn('ip', ['netns', 'exec', h.server, join(REPO, 'bin', 'difw'), '--force', 'enable'], { stdio: 'ignore' });
      const enableCode = await new Promise<number>((r) => enable.on('exit', (c) => r(c ?? -1)));
      assert.equal(enableCode, 0, 'difw --force enable succeeded');
      const restartMs = Date.now() - killedAt;
      await proberDone;
      const denied = (JSON.parse(probeOut) as string[][])[0]!;
      const newPid = h.agentPid();
      assert.ok(newPid && newPid !== oldPid, 'a new agent runs');

      const code = await done;
      assert.equal(code, 0, `iperf3 failed: ${out.slice(-500)}`);
      const report = JSON.parse(out) as { intervals: IperfInterval[]; end: { sum_received: { bits_per_second: number } } };
      const perSecond = report.intervals.map((i) => i.sum.bytes);
      assert.ok(perSecond.length >= 7, 'iperf3 reported its intervals');
      assert.ok(perSecond.every((b) => b > 0), `no interval without traffic: ${perSecond.join(',')}`);
      assert.ok(denied.length > 5 && denied.every((o) => o === 'timeout'), `denied port outcomes during restart: ${denied.join(',')}`);
      const mbps = (report.end.sum_received.bits_per_second / 1e6).toFixed(0);
      const minMB = (Math.min(...perSecond) / 1e6).toFixed(1);
      console.log(`# iperf3 ${mbps} Mbit/s overall, slowest 1 s interval ${minMB} MB, agent restarted ${restartMs} ms after the kill; ${denied.length} probes of a denied port during the restart, all timed out`);
    } finally {
      client.kill('SIGKILL');
      server.kill('SIGKILL');
    }
  });
});
