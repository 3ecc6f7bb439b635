/**
 * Attacks on identity in a real lab (test prefix `dt`). A server pod x/server (node n2) admits
 * only pods labelled role=client (x/client on n1). An attacker host on the fabric bridge takes
 * over x/client's address: node n2's route to that address points at the attacker, and the
 * attacker holds the address. It then tries:
 *   hijack  a real TCP connection from the stolen address;
 *   replay  a captured genuine SYN (with its valid claim), byte for byte;
 *   splice  the captured claim option on a fresh SYN (other source port and ISN);
 *   forge   a fresh SYN claiming x/client's identity with a made-up MAC;
 *   strip   the captured SYN with its claim option removed.
 * The control run (no policy) shows each path reaches the server at the network level; with the
 * policy each must get no answer at all, while the genuine client still connects.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { difw, mustDifw, labSkipReason, yamlStream, labObj, nsObj, podObj, status, startServer, connect, addFabricHost, sh, mustSh, REPO } from '../helpers/lab.js';

const ATTACK = join(REPO, 'test', 'fixtures', 'lab', 'attack.py');
const SYS_PY = '/usr/bin/python3';
const SERVER_IP = '198.19.2.10';
const CLIENT_IP = '198.19.1.10';

const skip =
  labSkipReason() ??
  (sh(SYS_PY, ['-c', 'import scapy']).status !== 0 ? 'needs python3-scapy for /usr/bin/python3' : null);

const policy = {
  apiVersion: 'networking.k8s.io/v1',
  kind: 'NetworkPolicy',
  metadata: { name: 'only-clients', namespace: 'x' },
  spec: {
    podSelector: { matchLabels: { app: 'server' } },
    policyTypes: ['Ingress'],
    ingress: [{ from: [{ podSelector: { matchLabels: { role: 'client' } } }], ports: [{ protocol: 'TCP', port: 80 }] }],
  },
};

interface Outcome {
  genuine: string | null;
  other: string | null;
  claimOnWire: boolean;
  hijack: string | null;
  replay: Injection;
  splice: Injection;
  forge: Injection;
  strip: Injection;
}

async function captureSyn(fabNetns: string, bridge: string, out: string, trigger: () => void): Promise<{ captured: boolean; claim?: boolean }> {
  const p: ChildProcess = spawn('ip', ['netns', 'exec', fabNetns, SYS_PY, ATTACK, 'capture', bridge, SERVER_IP, '80', out, '8'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let buf = '';
  p.stdout!.on('data', (d: Buffer) => (buf += d.toString()));
  const deadline = Date.now() + 15_000;
  while (!buf.includes('ready') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  trigger();
  await new Promise<void>((resolve) => {
    const t = setTimeout(() => {
      p.kill('SIGKILL');
      resolve();
    }, 15_000);
    p.on('exit', () => {
      clearTimeout(t);
      resolve();
    });
  });
  const line = buf.split('\n').find((l) => l.startsWith('{'));
  return line ? (JSON.parse(line) as { captured: boolean; claim?: boolean }) : { captured: false };
}

interface Injection {
  sport: number;
  seq: number;
  replied: boolean;
  claim_sent: boolean;
  /** the crafted SYN arrived in the server pod (passed the node's datapath) */
  delivered: boolean;
}

/**
 * Send one crafted SYN from the attacker while a watcher in the server pod records the SYNs that
 * reach it. Delivery to the pod is the criterion (not the server's answer: a duplicate SYN that
 * hits a TIME_WAIT socket is silently ignored by the server's TCP, which would hide a datapath
 * that let it through).
 */
async function inject(atkNetns: string, serverNetns: string, mode: string, file: string): Promise<Injection> {
  const w: ChildProcess = spawn('ip', ['netns', 'exec', serverNetns, SYS_PY, ATTACK, 'watch', 'eth0', SERVER_IP, '80', '15'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  w.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((resolve) => w.on('exit', () => resolve()));
  const deadline = Date.now() + 15_000;
  while (!out.includes('ready') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  let res: Omit<Injection, 'delivered'>;
  try {
    const r = sh('ip', ['netns', 'exec', atkNetns, SYS_PY, ATTACK, 'inject', mode, file, 'eth0', '1.5']);
    const line = r.stdout.split('\n').find((l) => l.startsWith('{'));
    if (!line) throw new Error(`attack ${mode} did not run: ${r.stderr.slice(-500)}`);
    res = JSON.parse(line) as Omit<Injection, 'delivered'>;
  } finally {
    w.stdin!.end();
    const t = setTimeout(() => w.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(t);
  }
  const seen = JSON.parse(out.split('\n').find((l) => l.startsWith('[')) ?? '[]') as [string, number, number][];
  return { ...res, delivered: seen.some(([src, sport, seq]) => src === CLIENT_IP && sport === res.sport && seq === res.seq) };
}

function hijackConnect(atkNetns: string): string | null {
  const code = [
    'import socket,sys',
    's=socket.socket(); s.settimeout(1.5)',
    `s.bind((${JSON.stringify(CLIENT_IP)}, 0))`,
    `s.connect((${JSON.stringify(SERVER_IP)}, 80))`,
    'sys.stdout.write(s.recv(100).decode())',
  ].join('\n');
  const r = sh('ip', ['netns', 'exec', atkNetns, 'python3', '-c', code]);
  return r.status === 0 ? r.stdout.trim() : null;
}

test('attacks on identity: hijacked address, replay, splice, forged MAC, stripped claim', { skip: skip ?? false, timeout: 600_000 }, async (t) => {
  const procs: ChildProcess[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'difw-attack-'));
  t.after(() => {
    for (const p of procs) p.kill('SIGKILL');
    difw(['lab', 'down']);
    rmSync(dir, { recursive: true, force: true });
  });
  difw(['lab', 'down']);
  mustDifw(
    ['lab', 'up', '-f', '-'],
    yamlStream([
      labObj(['n1', 'n2']),
      nsObj('x'),
      podObj('x', 'server', { app: 'server' }, SERVER_IP, 'n2'),
      podObj('x', 'client', { role: 'client' }, CLIENT_IP, 'n1'),
      podObj('x', 'other', { role: 'other' }, '198.19.1.11', 'n1'),
    ]),
  );
  const st = status();
  const n1 = st.nodes.find((n) => n.name === 'n1')!;
  const n2 = st.nodes.find((n) => n.name === 'n2')!;
  const server = st.pods.find((p) => p.name === 'server')!;
  procs.push(await startServer('x/server', 80, 'beer'));
  const atk = addFabricHost(st, n2.fabricIp);

  const run = async (withPolicy: boolean): Promise<Outcome> => {
    if (withPolicy) mustDifw(['apply', '-f', '-'], yamlStream([policy]));
    else difw(['delete', '-f', '-'], yamlStream([policy]));
    const genuine = connect('x/client', SERVER_IP, 80);
    const other = connect('x/other', SERVER_IP, 80);
    const file = join(dir, `syn-${withPolicy ? 'policy' : 'control'}.hex`);
    const cap = await captureSyn(st.fabric!.netns, st.fabric!.bridge, file, () => void connect('x/client', SERVER_IP, 80));
    assert.ok(cap.captured, 'a genuine SYN was captured on the fabric');
    assert.ok(readFileSync(file, 'utf8').length > 80);
    // take over the client's address: n2 routes it to the attacker, the attacker holds it
    mustSh('ip', ['-n', n2.netns, 'route', 'replace', `${CLIENT_IP}/32`, 'via', atk.ip, 'dev', 'fab0']);
    mustSh('ip', ['-n', atk.netns, 'addr', 'add', `${CLIENT_IP}/32`, 'dev', 'eth0']);
    try {
      return {
        genuine,
        other,
        claimOnWire: !!cap.claim,
        hijack: hijackConnect(atk.netns),
        replay: await inject(atk.netns, server.netns, 'replay', file),
        splice: await inject(atk.netns, server.netns, 'splice', file),
        forge: await inject(atk.netns, server.netns, 'forge', file),
        strip: await inject(atk.netns, server.netns, 'strip', file),
      };
    } finally {
      mustSh('ip', ['-n', n2.netns, 'route', 'replace', `${CLIENT_IP}/32`, 'via', n1.fabricIp, 'dev', 'fab0']);
      sh('ip', ['-n', atk.netns, 'addr', 'del', `${CLIENT_IP}/32`, 'dev', 'eth0']);
    }
  };

  const control = await run(false);
  t.diagnostic(`control (no policy): ${JSON.stringify(control)}`);
  const enforced = await run(true);
  t.diagnostic(`with policy: ${JSON.stringify(enforced)}`);

  await t.test('claims are on the wire', () => {
    assert.ok(control.claimOnWire && enforced.claimOnWire, 'the genuine SYN carries a claim option');
  });
  await t.test('control: every attack path reaches the server without the policy', () => {
    assert.equal(control.genuine, 'beer');
    assert.equal(control.other, 'beer');
    assert.equal(control.hijack, 'beer', 'hijacked address connects');
    assert.ok(control.replay.delivered, 'replayed SYN delivered');
    assert.ok(control.replay.claim_sent && control.splice.claim_sent && control.forge.claim_sent && !control.strip.claim_sent);
    assert.ok(control.splice.delivered && control.splice.replied, 'spliced SYN delivered and answered');
    assert.ok(control.forge.delivered && control.forge.replied, 'forged SYN delivered and answered');
    assert.ok(control.strip.delivered, 'stripped SYN delivered');
  });
  await t.test('policy: the genuine client connects, the other pod does not', () => {
    assert.equal(enforced.genuine, 'beer');
    assert.equal(enforced.other, null);
  });
  await t.test('policy: a fabric host with the client address is refused', () => assert.equal(enforced.hijack, null));
  await t.test('policy: a replayed genuine SYN gets no answer', () => assert.equal(enforced.replay.delivered, false));
  await t.test('policy: a claim spliced onto another connection gets no answer', () => assert.equal(enforced.splice.delivered || enforced.splice.replied, false));
  await t.test('policy: a forged MAC gets no answer', () => assert.equal(enforced.forge.delivered || enforced.forge.replied, false));
  await t.test('policy: a stripped claim gets no answer', () => assert.equal(enforced.strip.delivered, false));
});
