/**
 * The lab control plane without root: the object store (keys, revisions, persistence), object
 * parsing and normalisation, lab naming limits, and what each node is sent (claim keys only for
 * pairs it belongs to, peers and hosted identities of the whole lab).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ObjectStore, objectKey, type KubeObject } from '../../src/controlplane/store.js';
import { parseObjects } from '../../src/controlplane/objects.js';
import { buildPushes, claimConfig, type NodeCompiler } from '../../src/controlplane/compile.js';
import { TablesPush } from '../../src/controlplane/protocol.js';
import { labConfig, podHostIf, checkName } from '../../src/lab/config.js';
import type { LabState } from '../../src/lab/state.js';
import { pairKey } from '../../src/identity/keys.js';

const ns = (name: string): KubeObject => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
const pol = (name: string, namespace?: string): KubeObject => ({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name, ...(namespace ? { namespace } : {}) }, spec: {} });

test('store: keys by kind/namespace/name, one revision per commit, persisted', () => {
  const dir = mkdtempSync(join(tmpdir(), 'difw-store-'));
  try {
    const file = join(dir, 'store.json');
    const s = ObjectStore.open(file);
    assert.equal(s.revision, 0);
    assert.equal(objectKey(ns('x')), 'Namespace//x');
    assert.equal(objectKey(pol('p')), 'NetworkPolicy/default/p', 'namespaced objects default to "default"');
    s.put(ns('x'));
    s.put(pol('p', 'x'));
    s.put(pol('p', 'y'));
    assert.equal(s.commit(), 1);
    assert.equal(s.list().length, 3);
    assert.equal(s.list('NetworkPolicy').length, 2);
    const prev = s.put({ ...pol('p', 'x'), spec: { podSelector: {} } });
    assert.ok(prev, 'put returns the object it replaces');
    assert.ok(s.remove(pol('p', 'y')));
    assert.equal(s.remove(pol('nope', 'y')), undefined);
    assert.equal(s.commit(), 2);
    const again = ObjectStore.open(file);
    assert.equal(again.revision, 2);
    assert.deepEqual(again.get('NetworkPolicy', 'x', 'p')?.spec, { podSelector: {} });
    assert.equal(again.get('NetworkPolicy', 'y', 'p'), undefined);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('objects: multi-document YAML and JSON, namespace name label, bad input says Cannot', () => {
  const objs = parseObjects('kind: Namespace\nmetadata: {name: x, labels: {a: b}}\n---\n{"kind":"Pod","metadata":{"name":"p"}}\n---\n', 't');
  assert.equal(objs.length, 2);
  assert.deepEqual(objs[0]!.metadata.labels, { a: 'b', 'kubernetes.io/metadata.name': 'x' });
  assert.equal(objs[1]!.metadata.namespace, 'default');
  assert.throws(() => parseObjects('kind: Deployment\nmetadata: {name: d}\n', 't'), /Cannot handle kind "Deployment"/);
  assert.throws(() => parseObjects('kind: Pod\n', 't'), /Cannot read an object/);
  assert.throws(() => parseObjects('kind: [\n', 't'), /Cannot parse/);
});

test('lab names: prefix checked, interface names fit IFNAMSIZ, DNS-label names only', () => {
  assert.throws(() => labConfig('BAD!'), /Cannot use lab prefix/);
  const cfg = labConfig('dt');
  assert.equal(cfg.fabricNetns, 'dt-fab');
  assert.ok(cfg.cgroupBase.endsWith('/difw-lab-dt'));
  const ifn = podHostIf(cfg, 'a-very-long-namespace-name', 'and-a-very-long-pod-name');
  assert.ok(ifn.length <= 15 && ifn.startsWith('dtp'), ifn);
  assert.notEqual(ifn, podHostIf(cfg, 'a-very-long-namespace-name', 'and-a-very-long-pod-namf'));
  assert.throws(() => checkName('pod', '../etc'), /Cannot use pod name/);
  checkName('pod', 'y-2');
});

function fakeLab(): LabState {
  const node = (name: string, id: number) => ({ name, id, netns: `dt-${name}`, fabricIp: `198.18.9.${10 + id}`, fabricPrefix: 24, fabricIf: 'x', dir: '/d', bpffs: '/b', socket: '/s', log: '/l', cgroup: `/cg/${name}` });
  const pod = (namespace: string, name: string, nodeName: string, ip: string) => ({ namespace, name, node: nodeName, ip, netns: `dt-${namespace}-${name}`, cgroup: `/cg/${nodeName}/${namespace}/${name}`, hostIf: `dtp${name}` });
  return {
    version: 1,
    name: 't',
    prefix: 'dt',
    phase: 'up',
    fabric: { netns: 'dt-fab', bridge: 'dtbr0' },
    nodes: [node('n1', 1), node('n2', 2), node('n3', 3)],
    pods: [pod('x', 'a', 'n1', '198.19.1.10'), pod('x', 'b', 'n2', '198.19.2.10'), pod('y', 'c', 'n3', '198.19.3.10')],
    secret: 'ab'.repeat(32),
    keyEpoch: 3,
  };
}

test('claims: a node gets the keys of its own pairs only, for the current and previous epoch', () => {
  const lab = fakeLab();
  const ids = new Map([['x/a', 300], ['x/b', 301], ['y/c', 302]]);
  const c = claimConfig(lab, 'n2', ids);
  assert.equal(c.nodeId, 2);
  assert.equal(c.epoch, 3);
  assert.deepEqual([...new Set(c.keys.map((k) => k.peer))].sort(), [1, 2, 3]);
  assert.deepEqual([...new Set(c.keys.map((k) => k.epoch))].sort(), [2, 3]);
  const secret = Buffer.from(lab.secret, 'hex');
  for (const k of c.keys) assert.equal(k.key, pairKey(secret, 2, k.peer, k.epoch).toString('hex'), 'K(n2, peer, epoch)');
  // no key of a pair without n2 (e.g. {1,3}) is among them
  const k13 = pairKey(secret, 1, 3, 3).toString('hex');
  assert.ok(!c.keys.some((k) => k.key === k13));
  assert.deepEqual(c.hosted.sort((a, b) => a.identity - b.identity), [{ node: 1, identity: 300 }, { node: 2, identity: 301 }, { node: 3, identity: 302 }]);
  assert.ok(c.peers.some((p) => p.ip === '198.19.3.10' && p.node === 3));
  assert.ok(c.peers.some((p) => p.ip === '198.18.9.11' && p.node === 1));
});

test('pushes: one per node, its own pods with identities, valid against the agent schema', () => {
  const lab = fakeLab();
  const seen: string[] = [];
  const compiler: NodeCompiler = {
    validate: (o) => o,
    compileNode: (_objs, node, _lab, rev) => {
      seen.push(node);
      return { node, rev };
    },
    podIdentities: () => new Map([['x/a', 300], ['x/b', 301]]),
  };
  const pushes = buildPushes(lab, [], 7, compiler);
  assert.deepEqual([...pushes.keys()], ['n1', 'n2', 'n3']);
  assert.deepEqual(seen, ['n1', 'n2', 'n3']);
  const p1 = pushes.get('n1')!;
  assert.equal(p1.revision, 7);
  assert.deepEqual(p1.tables, { node: 'n1', rev: 7 });
  assert.deepEqual(p1.pods.map((p) => [p.name, p.identity, p.hostIf]), [['a', 300, 'dtpa']]);
  assert.deepEqual(pushes.get('n3')!.pods.map((p) => p.identity), [0], 'a pod without an identity gets 0');
  for (const p of pushes.values()) assert.ok(TablesPush.safeParse(JSON.parse(JSON.stringify(p))).success);
});
