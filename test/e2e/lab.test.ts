/**
 * `difw lab` end to end through bin/difw (test prefix `dt`): topology, exec, apply/delete of
 * pods and policies with enforcement on every node, teardown that leaves nothing behind, and
 * an `up` that fails half-way cleaning up after itself.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import { difw, mustDifw, labSkipReason, yamlStream, labObj, nsObj, podObj, status, startServer, startEcho, longClient, connect, PREFIX } from '../helpers/lab.js';

const skip = labSkipReason();
const CG_BASE = (() => {
  try {
    const l = readFileSync('/proc/mounts', 'utf8').split('\n').find((x) => x.split(' ')[2] === 'cgroup2');
    return `${l!.split(' ')[1]}/difw-lab-${PREFIX}`;
  } catch {
    return '';
  }
})();

function leftovers(): string[] {
  const out: string[] = [];
  const ns = difw(['lab', 'status', '--json']); // must not fail without a lab
  if (ns.status !== 0) out.push(`status failed: ${ns.stderr}`);
  const netns = readdirSync('/run/netns', { withFileTypes: true }).map((e) => e.name).filter((n) => n.startsWith(`${PREFIX}-`));
  out.push(...netns.map((n) => `netns ${n}`));
  if (CG_BASE && existsSync(CG_BASE)) out.push(`cgroup ${CG_BASE}`);
  const mounts = readFileSync('/proc/self/mounts', 'utf8').split('\n').filter((l) => l.includes(`/lab-${PREFIX}/`));
  out.push(...mounts.map((m) => `mount ${m.split(' ')[1]}`));
  return out;
}

const model = () => [
  labObj(['n1', 'n2']),
  nsObj('x', { team: 'x' }),
  nsObj('y', { team: 'y' }),
  podObj('x', 'a', { app: 'a' }, '198.19.1.10', 'n1'),
  podObj('x', 'b', { app: 'b' }, '198.19.2.11', 'n2'),
  podObj('y', 'c', { app: 'c' }, '198.19.1.12', 'n1'),
];

test('lab: up, exec, apply/delete, down', { skip: skip ?? false, timeout: 300_000 }, async (t) => {
  const procs: ChildProcess[] = [];
  t.after(() => {
    for (const p of procs) p.kill('SIGKILL');
    difw(['lab', 'down']);
  });
  difw(['lab', 'down']);
  mustDifw(['lab', 'up', '-f', '-'], yamlStream(model()));

  await t.test('status lists nodes, fabric and pods', () => {
    const s = status();
    assert.deepEqual(s.nodes.map((n) => n.name), ['n1', 'n2']);
    assert.equal(s.fabric?.netns, `${PREFIX}-fab`);
    assert.deepEqual(s.pods.map((p) => `${p.namespace}/${p.name}@${p.node}:${p.ip}`).sort(), ['x/a@n1:198.19.1.10', 'x/b@n2:198.19.2.11', 'y/c@n1:198.19.1.12']);
    for (const p of s.pods) assert.ok(existsSync(`/run/netns/${p.netns}`), p.netns);
  });

  await t.test('exec runs in the pod netns and cgroup and propagates the exit code', () => {
    const r = difw(['lab', 'exec', 'x/a', '--', 'sh', '-c', 'cat /proc/self/cgroup; ip -4 -o addr show dev eth0; exit 7']);
    assert.equal(r.status, 7);
    assert.match(r.stdout, new RegExp(`difw-lab-${PREFIX}/n1/x/a`));
    assert.match(r.stdout, /198\.19\.1\.10\/32/);
    assert.notEqual(difw(['lab', 'exec', 'x/nope', '--', 'true']).status, 0);
  });

  procs.push(await startServer('x/b', 80, 'from-b'), await startServer('x/a', 80, 'from-a'));

  await t.test('pods reach each other across nodes and on one node', () => {
    assert.equal(connect('x/a', '198.19.2.11', 80), 'from-b');
    assert.equal(connect('y/c', '198.19.1.10', 80), 'from-a');
  });

  const deny = { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'only-x', namespace: 'x' }, spec: { podSelector: {}, policyTypes: ['Ingress'], ingress: [{ from: [{ podSelector: {} }] }] } };

  await t.test('a policy is enforced on every node when apply returns, and lifted by delete', () => {
    assert.match(mustDifw(['apply', '-f', '-'], yamlStream([deny])), /created/);
    assert.equal(connect('x/a', '198.19.2.11', 80), 'from-b', 'same namespace stays allowed (cross-node)');
    assert.equal(connect('y/c', '198.19.1.10', 80), null, 'other namespace is refused (same node)');
    assert.equal(connect('y/c', '198.19.2.11', 80), null, 'other namespace is refused (cross-node)');
    mustDifw(['delete', '-f', '-'], yamlStream([deny]));
    assert.equal(connect('y/c', '198.19.2.11', 80), 'from-b');
  });

  await t.test('pods are created, relabelled and removed by apply/delete', () => {
    mustDifw(['apply', '-f', '-'], yamlStream([podObj('y', 'd', { app: 'd' }, '198.19.2.40', 'n2')]));
    assert.ok(status().pods.some((p) => p.name === 'd' && p.ip === '198.19.2.40'));
    assert.equal(connect('y/d', '198.19.2.11', 80), 'from-b');
    // relabel y/d into the policy's allowed set: x/* admits pods of namespace x only, so
    // relabelling alone must not admit it, moving it is not possible; check identity change via a
    // policy selecting app=d instead.
    const allowD = { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'allow-d', namespace: 'x' }, spec: { podSelector: {}, policyTypes: ['Ingress'], ingress: [{ from: [{ namespaceSelector: {}, podSelector: { matchLabels: { role: 'client' } } }] }] } };
    mustDifw(['apply', '-f', '-'], yamlStream([allowD]));
    assert.equal(connect('y/d', '198.19.2.11', 80), null, 'not yet labelled role=client');
    mustDifw(['apply', '-f', '-'], yamlStream([podObj('y', 'd', { app: 'd', role: 'client' }, '198.19.2.40', 'n2')]));
    assert.equal(connect('y/d', '198.19.2.11', 80), 'from-b', 'relabelled: admitted');
    mustDifw(['delete', '-f', '-'], yamlStream([allowD, podObj('y', 'd', {}, '198.19.2.40', 'n2')]));
    assert.ok(!status().pods.some((p) => p.name === 'd'));
    assert.ok(!existsSync(`/run/netns/${PREFIX}-y-d`));
  });

  await t.test('a bad object changes nothing and says Cannot', () => {
    const r = difw(['apply', '-f', '-'], yamlStream([podObj('y', 'e', {}, '198.19.2.41', 'no-such-node')]));
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /Cannot/);
    assert.ok(!status().pods.some((p) => p.name === 'e'));
  });

  await t.test('claim keys rotate without dropping connections; new ones still verify', async () => {
    mustDifw(['apply', '-f', '-'], yamlStream([deny]));
    // a long-lived connection x/a -> x/b:81 exchanging a line every 100 ms for 5 s
    procs.push(await startEcho('x/b', 81));
    const long = longClient('x/a', '198.19.2.11', 81, 5);
    await new Promise((r) => setTimeout(r, 1000));
    const before = JSON.parse(readFileSync(`/run/difw/lab-${PREFIX}/lab.json`, 'utf8')).keyEpoch as number;
    assert.match(mustDifw(['lab', 'rotate-keys']), /rotated/);
    const after = JSON.parse(readFileSync(`/run/difw/lab-${PREFIX}/lab.json`, 'utf8')).keyEpoch as number;
    assert.equal(after, (before + 1) & 0xff);
    assert.equal(connect('x/a', '198.19.2.11', 80), 'from-b', 'new connection verifies with the new epoch');
    assert.equal(connect('y/c', '198.19.2.11', 80), null, 'and the policy still refuses y/c');
    const r = await long;
    assert.match(r, /^ok \d+/, `long-lived connection survived the rotation: ${r}`);
    mustDifw(['delete', '-f', '-'], yamlStream([deny]));
  });

  await t.test('a crashed node agent is restarted by the next apply', () => {
    const lab = JSON.parse(readFileSync(`/run/difw/lab-${PREFIX}/lab.json`, 'utf8')) as { nodes: { name: string; agentPid: number }[] };
    const n2 = lab.nodes.find((n) => n.name === 'n2')!;
    process.kill(n2.agentPid, 'SIGKILL');
    mustDifw(['apply', '-f', '-'], yamlStream([deny]));
    const lab2 = JSON.parse(readFileSync(`/run/difw/lab-${PREFIX}/lab.json`, 'utf8')) as typeof lab;
    assert.notEqual(lab2.nodes.find((n) => n.name === 'n2')!.agentPid, n2.agentPid);
    assert.equal(connect('y/c', '198.19.2.11', 80), null, 'n2 enforces again');
    assert.equal(connect('x/a', '198.19.2.11', 80), 'from-b');
    mustDifw(['delete', '-f', '-'], yamlStream([deny]));
  });

  await t.test('down removes everything and is idempotent', () => {
    for (const p of procs) p.kill('SIGKILL');
    mustDifw(['lab', 'down']);
    assert.deepEqual(leftovers(), []);
    mustDifw(['lab', 'down']);
  });
});

test('lab: a failing up leaves nothing behind', { skip: skip ?? false, timeout: 120_000 }, () => {
  difw(['lab', 'down']);
  const r = difw(['lab', 'up', '-f', '-'], yamlStream([labObj(['n1']), podObj('x', 'a', {}, '198.19.1.10', 'n1'), podObj('x', 'b', {}, '198.19.1.10', 'n1')]));
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /Cannot/);
  assert.deepEqual(leftovers(), []);
  difw(['lab', 'down']);
});
