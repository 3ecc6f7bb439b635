/**
 * NetworkPolicy / DifwPolicy semantics, case by case. Every verdict is computed twice, by the
 * reference evaluator and through the compiled node tables (looked up as the datapath does), and
 * both must give the expected answer.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseObject, type ClusterObject } from '../../src/policy/netpol/model.js';
import { matchSelector } from '../../src/policy/netpol/selectors.js';
import { effectivePolicyTypes } from '../../src/policy/netpol/rules.js';
import { evaluate, type Endpoint } from '../../src/policy/netpol/evaluate.js';
import { buildCluster } from '../../src/policy/netpol/cluster.js';
import { compileNode, directionVerdict, expandRange, protoNumber, TableIndex, PORT_KIND } from '../../src/policy/netpol/compile.js';
import { allocateIdentities, canonicalLabels, hashIdentity, ID_CIDR_BASE, ID_FIRST_ALLOCATED } from '../../src/policy/netpol/identity.js';
import type { Protocol } from '../../src/policy/netpol/model.js';

type Raw = Record<string, unknown>;
const ns = (name: string, labels: Record<string, string> = {}): Raw => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } });
const pod = (key: string, labels: Record<string, string>, ip: string, node = 'n1', ports: [string, number, string?][] = [['http', 80]]): Raw => {
  const [namespace, name] = key.split('/');
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace, labels, annotations: { 'difw.io/node': node } },
    spec: { containers: [{ ports: ports.map(([n, p, proto]) => ({ name: n, containerPort: p, protocol: proto ?? 'TCP' })) }] },
    status: { podIP: ip },
  };
};
const np = (namespace: string, name: string, spec: Raw): Raw => ({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name, namespace }, spec });
const dp = (namespace: string, name: string, spec: Raw): Raw => ({ apiVersion: 'difw.io/v1', kind: 'DifwPolicy', metadata: { name, namespace }, spec });
const parseAll = (xs: Raw[]) => xs.map((x) => parseObject(x)).filter((x): x is ClusterObject => !!x);

/** The cluster used by most cases: namespaces x (team=a) and y (team=b), two nodes. */
const world: Raw[] = [
  ns('x', { team: 'a' }),
  ns('y', { team: 'b' }),
  pod('x/web', { app: 'web' }, '198.19.1.1', 'n1', [['http', 80], ['metrics', 9100]]),
  pod('x/api', { app: 'api', tier: 'back' }, '198.19.1.2', 'n2', [['http', 8080], ['dns', 53, 'UDP']]),
  pod('x/db', { app: 'db', tier: 'back' }, '198.19.2.3', 'n2', [['http', 5432]]),
  pod('y/web', { app: 'web' }, '198.19.2.4', 'n1', [['http', 81]]),
  pod('y/cli', { app: 'cli' }, '198.19.2.5', 'n2'),
];

/** Verdict via the reference and via compiled tables; asserts they agree and returns it. */
function verdict(extra: Raw[], src: Endpoint, dst: Endpoint, proto: Protocol, port: number, base = world): boolean {
  const objs = parseAll([...base, ...extra]);
  const ref = evaluate(objs, src, dst, proto, port);
  const c = buildCluster(objs);
  const idx = new Map(['n1', 'n2'].map((n) => [n, new TableIndex(compileNode(objs, n))]));
  const pn = protoNumber(proto);
  let ok = true;
  const sp = 'pod' in src ? c.podsByKey.get(src.pod)! : undefined;
  const dpod = 'pod' in dst ? c.podsByKey.get(dst.pod)! : undefined;
  const srcIp = sp ? sp.ips[0]! : (src as { ip: string }).ip;
  const dstIp = dpod ? dpod.ips[0]! : (dst as { ip: string }).ip;
  if (sp) ok &&= !directionVerdict(idx.get(sp.node!)!, sp.key, 'egress', dstIp, pn, port, dpod?.identity).drop;
  if (dpod) ok &&= !directionVerdict(idx.get(dpod.node!)!, dpod.key, 'ingress', srcIp, pn, port, sp?.identity).drop;
  assert.equal(ok, ref.allowed, `compiled tables and reference disagree: ${JSON.stringify({ src, dst, proto, port })}`);
  return ref.allowed;
}
const P = (key: string): Endpoint => ({ pod: key });

test('label selectors: matchLabels, In, NotIn, Exists, DoesNotExist, empty', () => {
  const l = { app: 'web', tier: 'front' };
  assert.equal(matchSelector({}, l), true);
  assert.equal(matchSelector({ matchLabels: { app: 'web' } }, l), true);
  assert.equal(matchSelector({ matchLabels: { app: 'web', tier: 'back' } }, l), false);
  assert.equal(matchSelector({ matchExpressions: [{ key: 'app', operator: 'In', values: ['api', 'web'] }] }, l), true);
  assert.equal(matchSelector({ matchExpressions: [{ key: 'app', operator: 'In', values: ['api'] }] }, l), false);
  assert.equal(matchSelector({ matchExpressions: [{ key: 'app', operator: 'NotIn', values: ['api'] }] }, l), true);
  assert.equal(matchSelector({ matchExpressions: [{ key: 'zone', operator: 'NotIn', values: ['a'] }] }, l), true, 'NotIn matches an absent key');
  assert.equal(matchSelector({ matchExpressions: [{ key: 'tier', operator: 'Exists' }] }, l), true);
  assert.equal(matchSelector({ matchExpressions: [{ key: 'zone', operator: 'Exists' }] }, l), false);
  assert.equal(matchSelector({ matchExpressions: [{ key: 'zone', operator: 'DoesNotExist' }] }, l), true);
  assert.equal(matchSelector({ matchExpressions: [{ key: 'app', operator: 'DoesNotExist' }] }, l), false);
  assert.equal(matchSelector({ matchLabels: { app: 'web' }, matchExpressions: [{ key: 'tier', operator: 'In', values: ['back'] }] }, l), false, 'AND of both parts');
});

test('schema rejects what the API server rejects', () => {
  const bad = [
    np('x', 'a', { podSelector: { matchExpressions: [{ key: 'a', operator: 'In', values: [] }] } }),
    np('x', 'b', { podSelector: { matchExpressions: [{ key: 'a', operator: 'Exists', values: ['v'] }] } }),
    np('x', 'c', { podSelector: {}, ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.0/8' }, podSelector: {} }] }] }),
    np('x', 'd', { podSelector: {}, ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.0/8', except: ['11.0.0.0/16'] } }] }] }),
    np('x', 'e', { podSelector: {}, egress: [{ ports: [{ endPort: 90 }] }] }),
    np('x', 'f', { podSelector: {}, egress: [{ ports: [{ port: 'http', endPort: 90 }] }] }),
    np('x', 'g', { podSelector: {}, ingress: [{ from: [{}] }] }),
    dp('x', 'h', { podSelector: {}, ingress: [{ action: 'deny', from: [{ entity: 'world', podSelector: {} }] }] }),
  ];
  for (const b of bad) assert.throws(() => parseObject(b), /Cannot accept/, JSON.stringify(b));
  assert.ok(parseObject(np('x', 'ok', { podSelector: {}, egress: [{ ports: [{ port: 80, endPort: 90 }] }] })));
});

test('policyTypes defaulting: Ingress always, Egress only when egress rules exist', () => {
  const t = (spec: Raw) => [...effectivePolicyTypes(parseObject(np('x', 'p', spec)) as never)].sort().join(',');
  assert.equal(t({ podSelector: {} }), 'Ingress');
  assert.equal(t({ podSelector: {}, egress: [] }), 'Ingress', 'an empty egress list does not add Egress');
  assert.equal(t({ podSelector: {}, egress: [{}] }), 'Egress,Ingress');
  assert.equal(t({ podSelector: {}, policyTypes: [], egress: [{}] }), 'Egress,Ingress', 'empty policyTypes is defaulted');
  assert.equal(t({ podSelector: {}, policyTypes: ['Egress'] }), 'Egress');
  // behaviour: an egress-only policy with no rules isolates egress and leaves ingress open
  const egressOnly = np('x', 'e', { podSelector: { matchLabels: { app: 'web' } }, policyTypes: ['Egress'] });
  assert.equal(verdict([egressOnly], P('x/web'), P('x/api'), 'TCP', 8080), false);
  assert.equal(verdict([egressOnly], P('x/api'), P('x/web'), 'TCP', 80), true);
  // defaulted: an egress rule list makes it isolate egress too, ingress with no rules = deny all
  const both = np('x', 'b', { podSelector: { matchLabels: { app: 'web' } }, egress: [{ to: [{ podSelector: { matchLabels: { app: 'api' } } }] }] });
  assert.equal(verdict([both], P('x/web'), P('x/api'), 'TCP', 8080), true);
  assert.equal(verdict([both], P('x/web'), P('x/db'), 'TCP', 5432), false);
  assert.equal(verdict([both], P('x/api'), P('x/web'), 'TCP', 80), false);
});

test('peers: podSelector alone = policy namespace; namespaceSelector alone; both in one peer = AND; two peers = OR', () => {
  const pol = (from: Raw[]) => np('x', 'p', { podSelector: { matchLabels: { app: 'web' } }, ingress: [{ from }] });
  const podOnly = pol([{ podSelector: { matchLabels: { app: 'cli' } } }]);
  assert.equal(verdict([podOnly], P('y/cli'), P('x/web'), 'TCP', 80), false, 'y/cli is not in the policy namespace');
  const nsOnly = pol([{ namespaceSelector: { matchLabels: { team: 'b' } } }]);
  assert.equal(verdict([nsOnly], P('y/cli'), P('x/web'), 'TCP', 80), true);
  assert.equal(verdict([nsOnly], P('x/api'), P('x/web'), 'TCP', 80), false);
  const and = pol([{ namespaceSelector: { matchLabels: { team: 'b' } }, podSelector: { matchLabels: { app: 'web' } } }]);
  assert.equal(verdict([and], P('y/web'), P('x/web'), 'TCP', 80), true);
  assert.equal(verdict([and], P('y/cli'), P('x/web'), 'TCP', 80), false, 'AND: namespace matches, pod does not');
  const or = pol([{ namespaceSelector: { matchLabels: { team: 'b' } } }, { podSelector: { matchLabels: { app: 'api' } } }]);
  assert.equal(verdict([or], P('y/cli'), P('x/web'), 'TCP', 80), true);
  assert.equal(verdict([or], P('x/api'), P('x/web'), 'TCP', 80), true);
  assert.equal(verdict([or], P('x/db'), P('x/web'), 'TCP', 80), false);
  const allNs = pol([{ namespaceSelector: {} }]);
  assert.equal(verdict([allNs], P('y/cli'), P('x/web'), 'TCP', 80), true, 'namespaceSelector {} = every namespace');
  assert.equal(verdict([allNs], { ip: '203.0.113.9' }, P('x/web'), 'TCP', 80), false, '... but only pods');
  const allFrom = np('x', 'p', { podSelector: { matchLabels: { app: 'web' } }, ingress: [{ ports: [{ port: 80 }] }] });
  assert.equal(verdict([allFrom], { ip: '203.0.113.9' }, P('x/web'), 'TCP', 80), true, 'no from = every source');
  const deny = np('x', 'p', { podSelector: {}, ingress: [] });
  assert.equal(verdict([deny], P('y/cli'), P('x/db'), 'TCP', 5432), false);
  assert.equal(verdict([deny], P('x/db'), P('y/web'), 'TCP', 81), true, 'other namespaces unaffected');
});

test('ports: protocol default TCP, numeric, named (ingress: the destination pod), endPort ranges', () => {
  const pol = (ports: Raw[]) => np('x', 'p', { podSelector: {}, ingress: [{ ports }] });
  assert.equal(verdict([pol([{ port: 8080 }])], P('y/cli'), P('x/api'), 'TCP', 8080), true);
  assert.equal(verdict([pol([{ port: 8080 }])], P('y/cli'), P('x/api'), 'UDP', 8080), false, 'TCP is the default protocol');
  assert.equal(verdict([pol([{ protocol: 'UDP' }])], P('y/cli'), P('x/api'), 'UDP', 53), true, 'protocol without port = all its ports');
  assert.equal(verdict([pol([{ protocol: 'UDP' }])], P('y/cli'), P('x/api'), 'TCP', 8080), false);
  // named: "http" is 80 on x/web, 8080 on x/api
  assert.equal(verdict([pol([{ port: 'http' }])], P('y/cli'), P('x/web'), 'TCP', 80), true);
  assert.equal(verdict([pol([{ port: 'http' }])], P('y/cli'), P('x/web'), 'TCP', 8080), false);
  assert.equal(verdict([pol([{ port: 'http' }])], P('y/cli'), P('x/api'), 'TCP', 8080), true);
  assert.equal(verdict([pol([{ port: 'dns', protocol: 'UDP' }])], P('y/cli'), P('x/api'), 'UDP', 53), true);
  assert.equal(verdict([pol([{ port: 'dns' }])], P('y/cli'), P('x/api'), 'TCP', 53), false, 'named port with the wrong protocol');
  // endPort
  const r = pol([{ port: 8000, endPort: 8100 }]);
  assert.equal(verdict([r], P('y/cli'), P('x/api'), 'TCP', 8000), true);
  assert.equal(verdict([r], P('y/cli'), P('x/api'), 'TCP', 8100), true);
  assert.equal(verdict([r], P('y/cli'), P('x/api'), 'TCP', 8101), false);
  assert.equal(verdict([r], P('y/cli'), P('x/api'), 'TCP', 7999), false);
  const wide = pol([{ port: 1000, endPort: 60000 }]);
  for (const p of [1000, 1023, 1024, 1279, 1280, 30000, 59903, 59904, 60000]) assert.equal(verdict([wide], P('y/cli'), P('x/api'), 'TCP', p), true, `port ${p}`);
  for (const p of [999, 60001, 65535]) assert.equal(verdict([wide], P('y/cli'), P('x/api'), 'TCP', p), false, `port ${p}`);
});

test('endPort expansion is bounded: exact ports to the 256 boundary, then blocks', () => {
  const e = expandRange(1, 65535);
  assert.ok(e.length <= 766, `${e.length} entries`);
  const covered = new Set<number>();
  for (const x of e) {
    if (x.kind === PORT_KIND.EXACT) covered.add(x.port);
    else for (let p = x.port << 8; p < (x.port + 1) << 8; p++) covered.add(p);
  }
  assert.equal(covered.size, 65535);
  assert.ok(!covered.has(0));
  assert.deepEqual(expandRange(53, 80).length, 28);
});

test('named ports in egress rules resolve on each destination pod', () => {
  const pol = np('y', 'p', { podSelector: { matchLabels: { app: 'cli' } }, egress: [{ to: [{ namespaceSelector: {} }], ports: [{ port: 'http' }] }] });
  assert.equal(verdict([pol], P('y/cli'), P('x/web'), 'TCP', 80), true);
  assert.equal(verdict([pol], P('y/cli'), P('x/api'), 'TCP', 8080), true);
  assert.equal(verdict([pol], P('y/cli'), P('x/api'), 'TCP', 80), false, "80 is x/web's http, not x/api's");
  assert.equal(verdict([pol], P('y/cli'), P('x/db'), 'TCP', 5432), true);
  assert.equal(verdict([pol], P('y/cli'), { ip: '203.0.113.9' }, 'TCP', 80), false, 'no named ports outside the pods');
  const noPeers = np('y', 'q', { podSelector: { matchLabels: { app: 'cli' } }, egress: [{ ports: [{ port: 'http' }] }] });
  assert.equal(verdict([noPeers], P('y/cli'), P('y/web'), 'TCP', 81), true);
  assert.equal(verdict([noPeers], P('y/cli'), P('y/web'), 'TCP', 80), false);
});

test('ipBlock with except: addresses, pod addresses included; broader blocks over nested prefixes', () => {
  const pol = (blocks: Raw[]) => np('x', 'p', { podSelector: { matchLabels: { app: 'web' } }, ingress: [{ from: blocks.map((ipBlock) => ({ ipBlock })) }] });
  const b = pol([{ cidr: '198.19.2.0/24', except: ['198.19.2.0/30'] }]);
  assert.equal(verdict([b], P('y/cli'), P('x/web'), 'TCP', 80), true, '198.19.2.5: in the block, outside the except');
  assert.equal(verdict([b], P('x/db'), P('x/web'), 'TCP', 80), false, '198.19.2.3: in the except');
  assert.equal(verdict([b], P('x/api'), P('x/web'), 'TCP', 80), false, '198.19.1.2: outside the block');
  assert.equal(verdict([b], { ip: '198.19.2.200' }, P('x/web'), 'UDP', 80), true);
  assert.equal(verdict([b], { ip: '198.19.2.1' }, P('x/web'), 'UDP', 80), false);
  // a second, broader policy covering the except: union
  const c = pol([{ cidr: '198.19.0.0/16' }]);
  assert.equal(verdict([b, c], P('x/db'), P('x/web'), 'TCP', 80), true);
  assert.equal(verdict([b, c], { ip: '198.19.2.1' }, P('x/web'), 'UDP', 80), true);
  assert.equal(verdict([b, c], { ip: '198.20.0.1' }, P('x/web'), 'UDP', 80), false);
  // egress ipBlock to a pod address and to the outside
  const eg = np('x', 'e', { podSelector: { matchLabels: { app: 'web' } }, egress: [{ to: [{ ipBlock: { cidr: '0.0.0.0/0', except: ['198.19.2.0/24'] } }] }] });
  assert.equal(verdict([eg], P('x/web'), P('x/api'), 'TCP', 8080), true);
  assert.equal(verdict([eg], P('x/web'), P('x/db'), 'TCP', 5432), false);
  assert.equal(verdict([eg], P('x/web'), { ip: '203.0.113.1' }, 'TCP', 443), true);
  // an IPv6 block never matches IPv4 peers, however broad
  const v6all = pol([{ cidr: '::/0' }]);
  assert.equal(verdict([v6all], { ip: '203.0.113.1' }, P('x/web'), 'UDP', 80), false);
  assert.equal(verdict([v6all], P('y/cli'), P('x/web'), 'TCP', 80), false);
  assert.equal(verdict([v6all], { ip: '2001:db8::7' }, P('x/web'), 'UDP', 80), true);
});

test('ipBlock and TCP: a pod address matches only with that pod\'s verified identity (spoofed address = world)', () => {
  const objs = parseAll([...world, np('x', 'p', { podSelector: { matchLabels: { app: 'web' } }, ingress: [{ from: [{ ipBlock: { cidr: '198.19.2.5/32' } }] }] })]);
  const idx = new TableIndex(compileNode(objs, 'n1'));
  const cli = buildCluster(objs).podsByKey.get('y/cli')!;
  assert.equal(directionVerdict(idx, 'x/web', 'ingress', '198.19.2.5', 6, 80, cli.identity).drop, false, 'claim matches the address');
  assert.equal(directionVerdict(idx, 'x/web', 'ingress', '198.19.2.5', 6, 80, undefined).drop, true, 'no claim from the pod address');
  assert.equal(directionVerdict(idx, 'x/web', 'ingress', '198.19.2.5', 17, 80, undefined).drop, false, 'UDP: address-derived');
});

test('additive policies: the union of all rules of all selecting policies', () => {
  const a = np('x', 'a', { podSelector: { matchLabels: { tier: 'back' } }, ingress: [{ from: [{ podSelector: { matchLabels: { app: 'web' } } }], ports: [{ port: 8080 }] }] });
  const b = np('x', 'b', { podSelector: { matchLabels: { app: 'api' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: 'b' } } }] }] });
  assert.equal(verdict([a], P('x/web'), P('x/api'), 'TCP', 8080), true);
  assert.equal(verdict([a], P('y/cli'), P('x/api'), 'TCP', 8080), false);
  assert.equal(verdict([a, b], P('y/cli'), P('x/api'), 'TCP', 8080), true);
  assert.equal(verdict([a, b], P('y/cli'), P('x/api'), 'UDP', 53), true);
  assert.equal(verdict([a, b], P('y/cli'), P('x/db'), 'TCP', 5432), false, 'b does not select x/db');
  // source egress and destination ingress must both allow
  const egressDeny = np('x', 'c', { podSelector: { matchLabels: { app: 'web' } }, policyTypes: ['Egress'] });
  assert.equal(verdict([a, egressDeny], P('x/web'), P('x/api'), 'TCP', 8080), false);
});

test('DifwPolicy: deny wins over allows, entities host and world, deny-only does not isolate, audit mode', () => {
  const allowAll = np('x', 'allow', { podSelector: {}, ingress: [{}] });
  const denyCli = dp('x', 'deny', { podSelector: { matchLabels: { app: 'api' } }, ingress: [{ action: 'deny', from: [{ namespaceSelector: { matchLabels: { team: 'b' } } }], ports: [{ port: 8080 }] }] });
  assert.equal(verdict([allowAll], P('y/cli'), P('x/api'), 'TCP', 8080), true);
  assert.equal(verdict([allowAll, denyCli], P('y/cli'), P('x/api'), 'TCP', 8080), false, 'deny wins');
  assert.equal(verdict([allowAll, denyCli], P('y/cli'), P('x/api'), 'UDP', 53), true, 'only the denied port');
  assert.equal(verdict([denyCli], P('x/web'), P('x/api'), 'TCP', 8080), true, 'deny-only policy does not isolate');
  const worldDeny = dp('x', 'w', { podSelector: {}, ingress: [{ action: 'deny', from: [{ entity: 'world' }] }] });
  assert.equal(verdict([worldDeny], { ip: '203.0.113.7' }, P('x/web'), 'TCP', 80), false);
  assert.equal(verdict([worldDeny], P('y/cli'), P('x/web'), 'TCP', 80), true, 'pods are not world');
  const hostOnly = dp('x', 'h', { podSelector: { matchLabels: { app: 'db' } }, ingress: [{ from: [{ entity: 'host' }] }] });
  assert.equal(evaluate(parseAll([...world, hostOnly]), { ip: '198.18.200.11', host: true }, P('x/db'), 'TCP', 5432).allowed, true);
  assert.equal(verdict([hostOnly], P('x/api'), P('x/db'), 'TCP', 5432), false, 'an allow rule isolates');
  // audit: would-be drops are reported but pass
  const audit = dp('x', 'a', { podSelector: { matchLabels: { app: 'db' } }, audit: true, ingress: [{ from: [{ podSelector: { matchLabels: { app: 'api' } } }] }] });
  const objs = parseAll([...world, audit]);
  assert.deepEqual(evaluate(objs, P('x/web'), P('x/db'), 'TCP', 5432), { allowed: true, audit: true });
  assert.deepEqual(evaluate(objs, P('x/api'), P('x/db'), 'TCP', 5432), { allowed: true, audit: false });
  const idx = new TableIndex(compileNode(objs, 'n2'));
  const web = buildCluster(objs).podsByKey.get('x/web')!;
  assert.deepEqual(directionVerdict(idx, 'x/db', 'ingress', web.ips[0]!, 6, 5432, web.identity), { drop: false, audit: true });
});

test('identities: deterministic, namespace labels included, collision-checked, reserved ranges', () => {
  const a = canonicalLabels({ app: 'web' }, { 'kubernetes.io/metadata.name': 'x' });
  const b = canonicalLabels({ app: 'web' }, { 'kubernetes.io/metadata.name': 'y' });
  assert.notEqual(a, b);
  assert.equal(a, canonicalLabels({ app: 'web' }, { 'kubernetes.io/metadata.name': 'x' }));
  assert.notEqual(canonicalLabels({ 'ns:x': '1' }, {}), canonicalLabels({}, { x: '1' }));
  const sets = Array.from({ length: 5000 }, (_, i) => canonicalLabels({ app: `a${i}` }, { 'kubernetes.io/metadata.name': 'n' }));
  const m1 = allocateIdentities(sets);
  const m2 = allocateIdentities([...sets].reverse());
  assert.deepEqual([...m1].sort(), [...m2].sort(), 'independent of input order');
  const ids = [...m1.values()];
  assert.equal(new Set(ids).size, ids.length);
  assert.ok(ids.every((i) => i >= ID_FIRST_ALLOCATED && i < ID_CIDR_BASE));
  assert.notEqual(hashIdentity(a), hashIdentity(a, 1));
  // pods with the same labels in the same namespace share an identity; another namespace does not
  const c = buildCluster(parseAll([ns('x'), ns('y'), pod('x/a', { app: 'w' }, '198.19.9.1'), pod('x/b', { app: 'w' }, '198.19.9.2'), pod('y/a', { app: 'w' }, '198.19.9.3')]));
  assert.equal(c.podsByKey.get('x/a')!.identity, c.podsByKey.get('x/b')!.identity);
  assert.notEqual(c.podsByKey.get('x/a')!.identity, c.podsByKey.get('y/a')!.identity);
  // namespace label changes change the identity
  const c2 = buildCluster(parseAll([ns('x', { env: 'prod' }), pod('x/a', { app: 'w' }, '198.19.9.1')]));
  assert.notEqual(c2.podsByKey.get('x/a')!.identity, c.podsByKey.get('x/a')!.identity);
});

test('compileNode is pure and JSON-serialisable', () => {
  const objs = parseAll([...world, np('x', 'p', { podSelector: {}, ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.0/8', except: ['10.1.0.0/16'] } }] }] })]);
  const t1 = compileNode(objs, 'n1', { revision: 4 });
  const t2 = compileNode(objs, 'n1', { revision: 4 });
  assert.deepEqual(t1, t2);
  assert.deepEqual(JSON.parse(JSON.stringify(t1)), t1);
  assert.deepEqual(t1.endpoints.map((e) => e.key).sort(), ['x/web', 'y/web']);
  assert.equal(t1.cidrIdentities.length, 2);
});

test('CIDR parsing: IPv4 in the mapped space, IPv6 forms, host bits, invalid input', async () => {
  const { parseCidr, formatCidr, parseAddr, cidrContains } = await import('../../src/policy/netpol/cidr.js');
  assert.equal(formatCidr(parseCidr('198.19.2.77/24')!), '198.19.2.0/24');
  assert.equal(parseCidr('0.0.0.0/0')!.len, 96);
  assert.equal(formatCidr(parseCidr('2001:db8::1/32')!), '2001:db8:0:0:0:0:0:0/32');
  assert.equal(parseAddr('::ffff:198.19.1.2')!.addr, parseAddr('198.19.1.2')!.addr);
  assert.equal(parseAddr('2001:db8::')!.addr, 0x20010db8n << 96n);
  assert.equal(parseAddr('::1')!.addr, 1n);
  assert.equal(parseAddr('1::')!.addr, 1n << 112n);
  assert.ok(cidrContains(parseCidr('198.19.0.0/16')!, parseCidr('198.19.2.0/24')!));
  assert.ok(!cidrContains(parseCidr('198.19.2.0/24')!, parseCidr('198.19.0.0/16')!));
  assert.ok(!cidrContains(parseCidr('::/0')!, parseCidr('10.0.0.0/8')!), 'families never mix: ::/0 holds no IPv4');
  assert.ok(!cidrContains(parseCidr('0.0.0.0/0')!, parseCidr('2001:db8::/32')!));
  for (const bad of ['198.19.2.0/33', '198.19.2.0', '198.19.2.0/x', 'fe80::1/129', 'nope/8', '1.2.3.4/8/9']) assert.equal(parseCidr(bad), undefined, bad);
});
