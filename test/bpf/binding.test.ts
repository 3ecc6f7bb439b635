/**
 * The BPF binding against the real kernel: object load, map operations, pinning and adoption,
 * test runs, ring buffer, tracepoint/cgroup links, and netlink XDP/TC attachments on veths in
 * namespaces this test creates (prefix "tb"). Uses test/fixtures/bpf/{binding,bad}.bpf.c.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';
import {
  BpfObject,
  BpfMap,
  BpfProgram,
  BpfLink,
  TypedMap,
  RingBuffer,
  MapType,
  libbpfVersion,
  numPossibleCpus,
  struct,
  u32,
  u64,
  u16,
  bytes,
  splitPerCpu,
} from '../../src/bpf/index.js';
import { isDifwError } from '../../src/errors.js';
import {
  REPO,
  FIXTURES,
  skipUnlessBpf,
  skipUnlessRoot,
  makePinDir,
  removePinDir,
  makeCgroup,
  removeCgroup,
  execInCgroup,
  withNetns,
  vethPair,
  ensureTracefs,
  nodeIn,
  udpExchange,
} from '../helpers/env.js';

const OBJ = join(FIXTURES, 'binding.bpf.o');
const BAD = join(FIXTURES, 'bad.bpf.o');
const NEEDS = ['fixtures/binding.bpf.o', 'fixtures/bad.bpf.o'];
const CHILD = 'dist/test/fixtures/bpf/attach-child.js';

const XDP_DROP = 1;
const XDP_PASS = 2;
const XDP_TX = 3;

const key32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
};
const val64 = (n: bigint) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(n);
  return b;
};

/** Open+load the fixture with a private pin dir; everything is released by t.after. */
function loadFixture(t: { after: (fn: () => void) => void }): { obj: BpfObject; pinDir: string } {
  const pinDir = makePinDir('tb');
  t.after(() => removePinDir(pinDir));
  const obj = BpfObject.open(OBJ, { pinRoot: pinDir });
  t.after(() => obj.close());
  obj.load();
  return { obj, pinDir };
}

/** Ethernet + IPv4 + UDP frame to `port` (checksums are not checked by the fixture). */
function udpFrame(port: number, payload = 4): Buffer {
  const b = Buffer.alloc(14 + 20 + 8 + payload);
  b.writeUInt16BE(0x0800, 12);
  b[14] = 0x45;
  b.writeUInt16BE(20 + 8 + payload, 16);
  b[14 + 8] = 64;
  b[14 + 9] = 17;
  b.writeUInt32BE(0xc6120001, 14 + 12); // 198.18.0.1
  b.writeUInt32BE(0xc6120002, 14 + 16); // 198.18.0.2
  b.writeUInt16BE(40000, 34);
  b.writeUInt16BE(port, 36);
  b.writeUInt16BE(8 + payload, 38);
  return b;
}

test('libbpf version is the 1.x system library', () => {
  assert.match(libbpfVersion(), /^v1\.\d+/);
});

test('open/load exposes maps and programs with their sizes', (t) => {
  if (skipUnlessBpf(t, NEEDS)) return;
  const { obj } = loadFixture(t);
  const names = obj.maps().map((m) => m.name).sort();
  for (const n of ['counters', 'events', 'kv', 'tb_pinned', 'totals', 'verdicts']) assert.ok(names.includes(n), `map ${n} in ${names}`);
  assert.deepEqual(obj.programs().map((p) => p.name).sort(), ['cg_sock_create', 'rawtp_sys_enter', 'tc_count', 'tp_getppid', 'xdp_pass', 'xdp_verdict']);
  const kv = obj.map('kv');
  assert.equal(kv.keySize, 4);
  assert.equal(kv.valueSize, 8);
  assert.equal(kv.maxEntries, 131072);
  assert.equal(kv.type, MapType.HASH);
  assert.ok(kv.fd > 0);
  assert.ok(obj.program('xdp_verdict').fd > 0);
  assert.throws(() => obj.map('nope'), (e: unknown) => isDifwError(e, 'DIFW_E_BPF_MAP') && /Cannot find BPF map nope/.test((e as Error).message));
  assert.throws(() => obj.program('nope'), (e: unknown) => isDifwError(e, 'DIFW_E_BPF_LOAD'));
});

test('map CRUD with update flags and errors', (t) => {
  if (skipUnlessBpf(t, NEEDS)) return;
  const { obj } = loadFixture(t);
  const kv = obj.map('kv');
  assert.equal(kv.lookup(key32(1)), undefined);
  kv.update(key32(1), val64(11n));
  assert.equal(kv.lookup(key32(1))!.readBigUInt64LE(0), 11n);
  kv.update(key32(1), val64(12n), 'exist');
  assert.equal(kv.lookup(key32(1))!.readBigUInt64LE(0), 12n);
  assert.throws(() => kv.update(key32(1), val64(13n), 'noexist'), (e: unknown) => isDifwError(e, 'DIFW_E_BPF_MAP') && /Cannot update BPF map kv.*File exists/.test((e as Error).message));
  assert.throws(() => kv.update(key32(2), val64(13n), 'exist'), (e: unknown) => isDifwError(e, 'DIFW_E_BPF_MAP') && /No such file/.test((e as Error).message));
  assert.throws(() => kv.update(Buffer.alloc(3), val64(1n)), (e: unknown) => isDifwError(e, 'DIFW_E_BPF_MAP') && /3-byte key/.test((e as Error).message));
  assert.throws(() => kv.update(key32(5), Buffer.alloc(4)), (e: unknown) => isDifwError(e, 'DIFW_E_BPF_MAP'));
  assert.equal(kv.delete(key32(1)), true);
  assert.equal(kv.delete(key32(1)), false);
  assert.equal(kv.lookup(key32(1)), undefined);
  // ring buffers have no keys: a clear error, with the kernel's ENOTSUPP spelled out
  assert.throws(() => obj.map('events').lookup(Buffer.alloc(0)), (e: unknown) => isDifwError(e, 'DIFW_E_BPF_MAP') && /Cannot look up a key in BPF map events: .*not supported/i.test((e as Error).message));
  // array maps: every index exists, out of range fails
  const totals = obj.map('totals');
  assert.equal(totals.lookup(key32(0))!.readBigUInt64LE(0), 0n);
  assert.equal(totals.lookup(key32(99)), undefined);
  assert.throws(() => totals.update(key32(99), val64(1n)), (e: unknown) => isDifwError(e, 'DIFW_E_BPF_MAP'));
});

test('batch update of 100k entries is fast; iteration and batch delete see them', (t) => {
  if (skipUnlessBpf(t, NEEDS)) return;
  const { obj } = loadFixture(t);
  const kv = obj.map('kv');
  const N = 100_000;
  const keys: Buffer[] = [];
  const vals: Buffer[] = [];
  for (let i = 0; i < N; i++) {
    keys.push(key32(i));
    vals.push(val64(BigInt(i) * 3n));
  }
  const t0 = performance.now();
  kv.updateBatch(keys, vals);
  const ms = performance.now() - t0;
  t.diagnostic(`updateBatch ${N} entries: ${ms.toFixed(1)} ms`);
  assert.equal(kv.lookup(key32(77_777))!.readBigUInt64LE(0), 77_777n * 3n);

  let n = 0;
  let sum = 0n;
  for (const [k, v] of kv.entries()) {
    n++;
    assert.equal(v.readBigUInt64LE(0), BigInt(k.readUInt32LE(0)) * 3n);
    sum += v.readBigUInt64LE(0);
  }
  assert.equal(n, N);
  assert.equal(sum, (BigInt(N) * BigInt(N - 1) / 2n) * 3n);

  const t2 = performance.now();
  const dumped = kv.dump();
  t.diagnostic(`dump ${dumped.length} entries: ${(performance.now() - t2).toFixed(1)} ms`);
  assert.equal(dumped.length, N);
  assert.equal(new Set(dumped.map(([k]) => k.readUInt32LE(0))).size, N, 'no duplicates');
  assert.ok(dumped.every(([k, v]) => v.readBigUInt64LE(0) === BigInt(k.readUInt32LE(0)) * 3n));
  assert.equal(kv.dump(7).length, N, 'small chunks resume correctly');

  // delete half of them plus keys that do not exist (ignored)
  const del = keys.filter((_, i) => i % 2 === 0).concat([key32(N + 5), key32(N + 6)]);
  const t1 = performance.now();
  kv.deleteBatch(del);
  t.diagnostic(`deleteBatch ${del.length} keys: ${(performance.now() - t1).toFixed(1)} ms`);
  assert.equal([...kv.keys()].length, N / 2);
  assert.equal(kv.lookup(key32(2)), undefined);
  assert.ok(kv.lookup(key32(3)));
  kv.clear();
  assert.equal([...kv.keys()].length, 0);
});

test('LPM trie: batch update, longest prefix match, capacity error', (t) => {
  if (skipUnlessBpf(t, NEEDS)) return;
  const { obj } = loadFixture(t);
  const lpmKey = struct('lpm_v4', [['prefixlen', u32], ['addr', bytes(4)]] as const);
  const m = obj.map('lpm');
  assert.equal(m.type, MapType.LPM_TRIE);
  const tm = new TypedMap(m, lpmKey, u32);
  tm.setMany([
    [{ prefixlen: 15, addr: Buffer.from([198, 18, 0, 0]) }, 1],
    [{ prefixlen: 24, addr: Buffer.from([198, 18, 5, 0]) }, 2],
    [{ prefixlen: 32, addr: Buffer.from([198, 18, 5, 7]) }, 3],
  ]);
  const find = (a: number[]) => tm.get({ prefixlen: 32, addr: Buffer.from(a) });
  assert.deepEqual(tm.dump().map(([, v]) => v).sort(), [1, 2, 3], 'dump works (batch or fallback)');
  assert.equal(find([198, 18, 5, 7]), 3);
  assert.equal(find([198, 18, 5, 8]), 2);
  assert.equal(find([198, 19, 200, 1]), 1);
  assert.equal(find([10, 0, 0, 1]), undefined);
  assert.equal([...tm.keys()].length, 3);
  m.deleteBatch([...m.keys()]);
  assert.equal([...m.keys()].length, 0);
  // more entries than max_entries: a clear error naming the map and the progress
  const many = Array.from({ length: 300 }, (_, i) => [{ prefixlen: 32, addr: Buffer.from([198, 18, i >> 8, i & 255]) }, i] as [{ prefixlen: number; addr: Buffer }, number]);
  assert.throws(() => tm.setMany(many), (e: unknown) => isDifwError(e, 'DIFW_E_BPF_MAP') && /Cannot (batch-)?update BPF map lpm \(256 of 300 entries written\)/.test((e as Error).message));
});

test('map types without batch ops fall back to per-entry updates (map-in-map)', (t) => {
  if (skipUnlessBpf(t, NEEDS)) return;
  const { obj } = loadFixture(t);
  const outer = obj.map('outer');
  assert.equal(outer.type, MapType.ARRAY_OF_MAPS);
  const a = obj.map('inner_a');
  const b = obj.map('inner_b');
  a.update(key32(0), key32(111));
  // values are inner map fds on update; lookups return the inner map ids
  outer.updateBatch([key32(0), key32(3)], [key32(a.fd), key32(b.fd)]);
  outer.updateBatch([key32(1)], [key32(a.fd)]); // second call goes straight to the fallback
  const ids = [0, 1, 2, 3].map((i) => outer.lookup(key32(i))?.readUInt32LE(0));
  assert.ok(ids[0]! > 0);
  assert.equal(ids[1], ids[0]);
  assert.equal(ids[2], undefined);
  assert.ok(ids[3]! > 0 && ids[3] !== ids[0]);
  assert.throws(() => outer.updateBatch([key32(2)], [key32(obj.map('kv').fd)]), (e: unknown) => isDifwError(e, 'DIFW_E_BPF_MAP') && /Cannot update BPF map outer \(0 of 1 entries written\): Invalid argument/.test((e as Error).message));
});

test('before load: max_entries, skipped programs, early map handles', (t) => {
  if (skipUnlessBpf(t, NEEDS)) return;
  const obj = BpfObject.open(OBJ, { pinRoot: makePinDirOnce(t) });
  t.after(() => obj.close());
  const early = obj.map('verdicts'); // handed out before load: usable after load
  assert.throws(() => early.fd, /not loaded/);
  obj.setMaxEntries('kv', 10);
  obj.skipPrograms(['cg_sock_create']);
  assert.throws(() => obj.skipPrograms(['nope']), (e: unknown) => isDifwError(e, 'DIFW_E_BPF_LOAD'));
  obj.load();
  assert.throws(() => obj.program('cg_sock_create').fd, /not loaded/);
  assert.ok(obj.program('xdp_pass').fd > 0);
  const kv = obj.map('kv');
  assert.equal(kv.maxEntries, 10);
  early.update(key32(1), key32(2));
  assert.equal(obj.map('verdicts').lookup(key32(1))!.readUInt32LE(0), 2);
  assert.throws(() => kv.updateBatch(Array.from({ length: 11 }, (_, i) => key32(i)), Array.from({ length: 11 }, () => val64(1n))), (e: unknown) => isDifwError(e, 'DIFW_E_BPF_MAP'));
  assert.throws(() => obj.setMaxEntries('kv', 20), (e: unknown) => isDifwError(e, 'DIFW_E_BPF_LOAD') && /already loaded/.test((e as Error).message));
  obj.close();
  assert.throws(() => early.lookup(key32(1)), /closed/);
  assert.throws(() => kv.lookup(key32(1)), /closed/);
  assert.throws(() => obj.map('kv'), /closed/);
});

test('TypedMap checks codec sizes and round-trips structs, setMany included', (t) => {
  if (skipUnlessBpf(t, NEEDS)) return;
  const { obj } = loadFixture(t);
  assert.throws(() => new TypedMap(obj.map('kv'), u32, u32), (e: unknown) => isDifwError(e, 'DIFW_E_BPF_MAP') && /value codec is 4 bytes, map value is 8/.test((e as Error).message));
  assert.throws(() => new TypedMap(obj.map('kv'), u16, u64), (e: unknown) => isDifwError(e, 'DIFW_E_BPF_MAP') && /key codec/.test((e as Error).message));
  const pair = struct('pair', [['a', u16], ['b', u32]] as const); // 8 bytes with padding
  const m = new TypedMap(obj.map('kv'), u32, pair);
  m.set(7, { a: 0xffff, b: 0xdeadbeef });
  assert.deepEqual(m.get(7), { a: 0xffff, b: 0xdeadbeef });
  assert.equal(obj.map('kv').lookup(key32(7))!.readUInt16LE(2), 0, 'padding is zero');
  m.setMany(Array.from({ length: 1000 }, (_, i) => [i + 100, { a: i, b: i * 2 }] as [number, { a: number; b: number }]));
  assert.deepEqual(m.get(599), { a: 499, b: 998 });
  assert.equal([...m.entries()].length, 1001);
  assert.equal(m.delete(7), true);
  assert.equal(m.get(7), undefined);
});

test('per-CPU maps read one value per possible CPU', (t) => {
  if (skipUnlessBpf(t, NEEDS)) return;
  const { obj } = loadFixture(t);
  const c = obj.map('counters');
  assert.equal(c.type, MapType.PERCPU_ARRAY);
  assert.ok(c.perCpu);
  const cpus = numPossibleCpus();
  assert.equal(c.valueBlobSize, 8 * cpus);
  c.update(key32(2), val64(5n)); // one value: replicated to every CPU
  const vals = c.lookupPerCpu(key32(2))!;
  assert.equal(vals.length, cpus);
  assert.ok(vals.every((v) => v.readBigUInt64LE(0) === 5n));
  const typed = new TypedMap(c, u32, u64);
  assert.deepEqual(typed.getPerCpu(2), Array(cpus).fill(5n));
  const d = c.dump();
  assert.equal(d.length, 8, 'array dump has every index');
  assert.equal(d[2]![1].length, 8 * cpus);
  assert.deepEqual(splitPerCpu(d[2]![1], 8).map((b) => b.readBigUInt64LE(0)), Array(cpus).fill(5n));
  assert.deepEqual(new TypedMap(obj.map('totals'), u32, u64).dump().map(([k]) => k), [0, 1, 2, 3, 4, 5, 6, 7]);
  assert.throws(() => obj.map('kv').lookupPerCpu(key32(0)), (e: unknown) => isDifwError(e, 'DIFW_E_BPF_MAP'));
});

test('maps pinned by name are adopted by the next open with the same pinRoot', (t) => {
  if (skipUnlessBpf(t, NEEDS)) return;
  const pinDir = makePinDir('tb');
  t.after(() => removePinDir(pinDir));
  const a = BpfObject.open(OBJ, { pinRoot: pinDir });
  a.load();
  const pa = a.map('tb_pinned');
  pa.update(key32(42), key32(4242));
  const idBefore = pa.fd;
  assert.ok(idBefore > 0);
  a.close();
  assert.throws(() => pa.lookup(key32(42)), /closed/);
  assert.ok(existsSync(join(pinDir, 'tb_pinned')));

  const b = BpfObject.open(OBJ, { pinRoot: pinDir });
  t.after(() => b.close());
  b.load();
  assert.equal(b.map('tb_pinned').lookup(key32(42))!.readUInt32LE(0), 4242, 'contents survive re-open');
  assert.equal(b.map('kv').lookup(key32(42)), undefined, 'unpinned maps are fresh');

  const p = BpfMap.openPinned(join(pinDir, 'tb_pinned'));
  t.after(() => p.close());
  assert.equal(p.name, 'tb_pinned');
  assert.equal(p.keySize, 4);
  assert.equal(p.valueSize, 4);
  assert.equal(p.maxEntries, 1024);
  assert.equal(p.type, MapType.HASH);
  p.update(key32(1), key32(2));
  assert.equal(b.map('tb_pinned').lookup(key32(1))!.readUInt32LE(0), 2, 'same kernel map');

  // explicit pin of an unpinned map, reopened by path
  b.map('kv').update(key32(9), val64(99n));
  b.map('kv').pin(join(pinDir, 'kv_manual'));
  const kv2 = BpfMap.openPinned(join(pinDir, 'kv_manual'));
  t.after(() => kv2.close());
  assert.equal(kv2.lookup(key32(9))!.readBigUInt64LE(0), 99n);
  assert.throws(() => BpfMap.openPinned(join(pinDir, 'missing')), (e: unknown) => isDifwError(e, 'DIFW_E_BPF_MAP') && /No such file/.test((e as Error).message));
});

test('a pinned map that does not match the object is reported by name', (t) => {
  if (skipUnlessBpf(t, NEEDS)) return;
  const pinDir = makePinDir('tb');
  t.after(() => removePinDir(pinDir));
  const a = BpfObject.open(OBJ, { pinRoot: makePinDirOnce(t) });
  t.after(() => a.close());
  a.load();
  a.map('kv').pin(join(pinDir, 'tb_pinned')); // value size 8 where tb_pinned has 4
  const b = BpfObject.open(OBJ, { pinRoot: pinDir });
  t.after(() => b.close());
  assert.throws(() => b.load(), (e: unknown) => isDifwError(e, 'DIFW_E_BPF_LOAD') && new RegExp(`map pinned at ${join(pinDir, 'tb_pinned')} does not match`).test((e as Error).message));
});

test('a verifier rejection is one DIFW_E_BPF_LOAD error quoting the verifier log', (t) => {
  if (skipUnlessBpf(t, NEEDS)) return;
  const obj = BpfObject.open(BAD);
  t.after(() => obj.close());
  let caught: unknown;
  try {
    obj.load();
  } catch (e) {
    caught = e;
  }
  assert.ok(isDifwError(caught, 'DIFW_E_BPF_LOAD'), `got ${String(caught)}`);
  const msg = (caught as Error).message;
  assert.match(msg, /^Cannot load program xdp_unchecked of BPF object bad/);
  assert.match(msg, /Permission denied/);
  assert.match(msg, /verifier log/);
  assert.match(msg, /invalid access to packet/);
  assert.throws(() => BpfObject.open(join(FIXTURES, 'does-not-exist.bpf.o')), (e: unknown) => isDifwError(e, 'DIFW_E_BPF_LOAD') && /Cannot open BPF object/.test((e as Error).message));
});

test('a verifier log far longer than a print buffer is still quoted from its end', (t) => {
  if (skipUnlessBpf(t, ['fixtures/bad_long.bpf.o'])) return;
  const obj = BpfObject.open(join(FIXTURES, 'bad_long.bpf.o'));
  t.after(() => obj.close());
  assert.throws(
    () => obj.load(),
    (e: unknown) => {
      const msg = (e as Error).message;
      assert.ok(isDifwError(e, 'DIFW_E_BPF_LOAD'));
      assert.match(msg, /^Cannot load program xdp_long_then_bad/);
      assert.match(msg, /invalid access to packet/);
      assert.match(msg, /processed \d{4,} insns/);
      assert.ok(msg.split('\n').length < 40, 'only the tail is quoted');
      return true;
    },
  );
});

test('a pinRoot that is not on a bpffs is refused clearly', (t) => {
  if (skipUnlessBpf(t, NEEDS)) return;
  assert.throws(() => BpfObject.open(OBJ, { pinRoot: '/tmp/tb-not-bpffs/x' }), (e: unknown) => isDifwError(e, 'DIFW_E_BPF_LOAD') && /not on a bpffs/.test((e as Error).message));
});

test('testRun returns each packet\'s XDP verdict and the kernel duration', (t) => {
  if (skipUnlessBpf(t, NEEDS)) return;
  const { obj } = loadFixture(t);
  const verdicts = new TypedMap(obj.map('verdicts'), u32, u32);
  verdicts.set(9, XDP_DROP);
  verdicts.set(11, XDP_TX);
  const p = obj.program('xdp_verdict');
  assert.equal(p.testRun({ data: udpFrame(9) }).retval, XDP_DROP);
  assert.equal(p.testRun({ data: udpFrame(10) }).retval, XDP_PASS);
  const tx = p.testRun({ data: udpFrame(11), repeat: 1000 });
  assert.equal(tx.retval, XDP_TX);
  assert.ok(tx.durationNs > 0 && tx.durationNs < 1_000_000, `duration ${tx.durationNs}`);
  assert.deepEqual(tx.data, udpFrame(11), 'packet data comes back');
  const arp = Buffer.alloc(60);
  arp.writeUInt16BE(0x0806, 12);
  assert.equal(p.testRun({ data: arp }).retval, XDP_PASS);
  // TC programs run on an skb built from the same bytes
  assert.equal(obj.program('tc_count').testRun({ data: udpFrame(10) }).retval, 0 /* TC_ACT_OK */);
  assert.equal(obj.map('totals').lookup(key32(3))!.readBigUInt64LE(0), 1n);
  // program types without BPF_PROG_TEST_RUN fail clearly
  assert.throws(() => obj.program('tp_getppid').testRun({ data: udpFrame(10) }), (e: unknown) => isDifwError(e, 'DIFW_E_BPF_SYSCALL') && /Cannot test-run BPF program tp_getppid: .*not supported/i.test((e as Error).message));
  // the per-CPU and shared counters saw 1 + 1 + 1000 + 1 runs
  assert.equal(obj.map('totals').lookup(key32(0))!.readBigUInt64LE(0), 1003n);
  const per = obj.map('counters').lookupPerCpu(key32(0))!;
  assert.equal(per.reduce((s, v) => s + v.readBigUInt64LE(0), 0n), 1003n);
});

test('ring buffer delivers records through the event loop without blocking it', async (t) => {
  if (skipUnlessBpf(t, NEEDS)) return;
  const { obj } = loadFixture(t);
  new TypedMap(obj.map('verdicts'), u32, u32).set(9, XDP_DROP);
  const got: { port: number; verdict: number; len: number }[] = [];
  const rb = new RingBuffer(obj.map('events'), (r) => got.push({ port: r.readUInt32LE(4), verdict: r.readUInt32LE(8), len: r.readUInt32LE(12) }));
  t.after(() => rb.stop());
  rb.start();
  const p = obj.program('xdp_verdict');
  p.testRun({ data: udpFrame(9) });
  p.testRun({ data: udpFrame(53, 10), repeat: 20 });
  assert.equal(got.length, 0, 'nothing is delivered synchronously inside testRun');
  // Timers keep firing while the consumer waits: the loop is not blocked.
  let ticks = 0;
  const iv = setInterval(() => ticks++, 5);
  const deadline = Date.now() + 2000;
  while (got.length < 21 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  clearInterval(iv);
  assert.equal(got.length, 21);
  assert.ok(ticks > 0);
  assert.deepEqual(got[0], { port: 9, verdict: XDP_DROP, len: 46 });
  assert.deepEqual(got[20], { port: 53, verdict: XDP_PASS, len: 52 });
  rb.stop();
  p.testRun({ data: udpFrame(9) });
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(got.length, 21, 'no delivery after stop');
  assert.throws(() => new RingBuffer(obj.map('kv'), () => {}), (e: unknown) => isDifwError(e, 'DIFW_E_BPF_MAP'));
});

test('ring buffer: a running consumer neither crashes nor holds the process at exit; keepAlive does', (t) => {
  if (skipUnlessBpf(t, NEEDS)) return;
  const pinDir = makePinDirOnce(t);
  const script = (keepAlive: boolean) => `
    const { BpfObject, RingBuffer } = await import(${JSON.stringify(join(REPO, 'dist/src/bpf/index.js'))});
    const o = BpfObject.open(${JSON.stringify(OBJ)}, { pinRoot: ${JSON.stringify(pinDir)} });
    o.load();
    let n = 0;
    const rb = new RingBuffer(o.map('events'), () => n++, { keepAlive: ${keepAlive} });
    rb.start();
    const b = Buffer.alloc(60); b.writeUInt16BE(0x0800, 12); b[14] = 0x45; b[23] = 17;
    o.program('xdp_verdict').testRun({ data: b });
    setTimeout(() => {
      process.stdout.write('records ' + n + '\\n');
      // unref'd: fires only if something else (the ring buffer with keepAlive) holds the loop
      setTimeout(() => { process.stdout.write('stopped\\n'); rb.stop(); o.close(); }, 300).unref();
    }, 100);
  `;
  for (const keepAlive of [false, true]) {
    const t0 = Date.now();
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script(keepAlive)], { encoding: 'utf8', timeout: 20_000 });
    const ms = Date.now() - t0;
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /records 1/);
    assert.equal(/stopped/.test(r.stdout), keepAlive, `keepAlive=${keepAlive}: ${r.stdout}`);
    t.diagnostic(`keepAlive=${keepAlive}: exited after ${ms} ms`);
  }
});

test('tracepoint link counts syscalls until destroyed', (t) => {
  if (skipUnlessBpf(t, NEEDS)) return;
  const why = ensureTracefs();
  if (why) return void t.skip(why);
  const { obj } = loadFixture(t);
  const totals = obj.map('totals');
  const read = () => totals.lookup(key32(1))!.readBigUInt64LE(0);
  const link = obj.program('tp_getppid').attachTracepoint('syscalls', 'sys_enter_getppid');
  t.after(() => link.destroy());
  const before = read();
  for (let i = 0; i < 10; i++) void process.ppid; // each read is a getppid(2)
  assert.ok(read() - before >= 10n, `counted ${read() - before}`);
  link.destroy();
  const after = read();
  for (let i = 0; i < 10; i++) void process.ppid;
  // other processes may call getppid too, but not through a destroyed link
  assert.equal(read(), after);
  assert.throws(() => obj.program('tp_getppid').attachTracepoint('syscalls', 'no_such_tp'), (e: unknown) => isDifwError(e, 'DIFW_E_BPF_ATTACH'));
});

test('raw tracepoint link and auto-attach by section name', (t) => {
  if (skipUnlessBpf(t, NEEDS)) return;
  const { obj } = loadFixture(t);
  const totals = obj.map('totals');
  const read = () => totals.lookup(key32(4))!.readBigUInt64LE(0);
  const p = obj.program('rawtp_sys_enter');
  for (const link of [p.attachRawTracepoint('sys_enter'), p.attach()]) {
    const before = read();
    for (let i = 0; i < 10; i++) void process.ppid;
    assert.ok(read() - before >= 10n, `counted ${read() - before}`);
    link.destroy();
    link.destroy(); // idempotent
    assert.throws(() => link.pin('/nonexistent'), (e: unknown) => isDifwError(e, 'DIFW_E_BPF_ATTACH') && /destroyed/.test((e as Error).message));
  }
});

test('cgroup link: attach, pin (survives the handle), unpin and destroy', (t) => {
  if (skipUnlessBpf(t, NEEDS)) return;
  const { obj, pinDir } = loadFixture(t);
  const cg = makeCgroup('tb');
  t.after(() => removeCgroup(cg));
  const totals = obj.map('totals');
  const read = () => totals.lookup(key32(2))!.readBigUInt64LE(0);
  const mkSockets = () => {
    const r = execInCgroup(cg, ['python3', '-c', 'import socket\nfor _ in range(3): socket.socket(socket.AF_INET, socket.SOCK_DGRAM).close()'], { timeoutMs: 20_000 });
    assert.equal(r.status, 0, r.stderr);
  };
  const link = obj.program('cg_sock_create').attachCgroup(cg);
  let c0 = read();
  mkSockets();
  assert.equal(read() - c0, 3n);

  const linkPath = join(pinDir, 'cg_link');
  link.pin(linkPath);
  link.destroy(); // pinned: stays attached
  c0 = read();
  mkSockets();
  assert.equal(read() - c0, 3n, 'pinned link outlives its handle');

  assert.throws(() => BpfMap.openPinned(linkPath), (e: unknown) => isDifwError(e, 'DIFW_E_BPF_MAP') && /not a map/.test((e as Error).message));
  const again = BpfLink.openPinned(linkPath);
  again.unpin();
  again.destroy();
  c0 = read();
  mkSockets();
  assert.equal(read(), c0, 'detached after unpin + destroy');
  assert.throws(() => obj.program('cg_sock_create').attachCgroup('/nonexistent-cgroup'), (e: unknown) => isDifwError(e, 'DIFW_E_BPF_ATTACH'));
});

interface ChildOut {
  results: { ok: boolean; progId?: number; attachedId?: number; code?: string; message?: string }[];
  error?: string;
}

function child(ns: string, spec: unknown): ChildOut {
  const r = nodeIn(ns, CHILD, [JSON.stringify(spec)], { timeoutMs: 30_000 });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  let out: ChildOut;
  try {
    out = JSON.parse(line) as ChildOut;
  } catch {
    throw new Error(`attach child failed (${r.status}): ${r.stdout}${r.stderr}`);
  }
  if (out.error) throw new Error(`attach child: ${out.error}`);
  return out;
}

test('XDP in a netns: attach survives the process, replace is atomic, detach removes it', async (t) => {
  if (skipUnlessBpf(t, NEEDS)) return;
  const pinDir = makePinDir('tb');
  t.after(() => removePinDir(pinDir));
  await withNetns('tb', async (nsA, nsB) => {
    const v = vethPair(nsA!, nsB!, { prefix: 'tb', addrA: ['198.18.0.1/24'], addrB: ['198.18.0.2/24'] });
    const spec = (ops: unknown[]) => ({ object: OBJ, pinRoot: pinDir, ops });
    // attach the verdict program to the receiving end and pin its maps for the parent
    const r1 = child(nsB!, spec([
      { op: 'xdp', prog: 'xdp_verdict', ifname: v.b },
      { op: 'pin-map', map: 'verdicts', path: join(pinDir, 'verdicts') },
      { op: 'pin-map', map: 'events', path: join(pinDir, 'events') },
    ]));
    assert.ok(r1.results[0]!.ok, r1.results[0]!.message);
    const verdictId = r1.results[0]!.progId!;
    assert.equal(r1.results[0]!.attachedId, verdictId);
    // the child has exited and closed its object: still attached
    assert.equal(child(nsB!, spec([{ op: 'xdp-id', ifname: v.b }])).results[0]!.attachedId, verdictId);

    const verdicts = new TypedMap(BpfMap.openPinned(join(pinDir, 'verdicts')), u32, u32);
    t.after(() => verdicts.map.close());
    verdicts.set(9, XDP_DROP);
    const seen: number[] = [];
    const events = BpfMap.openPinned(join(pinDir, 'events'));
    t.after(() => events.close());
    const rb = new RingBuffer(events, (r) => seen.push(r.readUInt32LE(4)));
    t.after(() => rb.stop());
    rb.start();

    const got = await udpExchange({ from: nsA!, to: nsB!, dst: '198.18.0.2', ports: [9, 10], count: 5 });
    assert.equal(got[10], 5, 'port 10 passes');
    assert.equal(got[9], 0, 'port 9 dropped by XDP');
    const deadline = Date.now() + 2000;
    while (seen.filter((p) => p === 9).length < 5 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.equal(seen.filter((p) => p === 9).length, 5, 'ring buffer saw the dropped packets');
    assert.equal(seen.filter((p) => p === 10).length, 5);

    // no-replace attach fails with a clear error; replace swaps programs
    const r2 = child(nsB!, spec([
      { op: 'xdp', prog: 'xdp_pass', ifname: v.b, replace: false },
      { op: 'xdp', prog: 'xdp_pass', ifname: v.b },
    ]));
    assert.equal(r2.results[0]!.ok, false);
    assert.equal(r2.results[0]!.code, 'DIFW_E_BPF_ATTACH');
    assert.match(r2.results[0]!.message!, /Cannot attach XDP program xdp_pass/);
    assert.ok(r2.results[1]!.ok);
    assert.notEqual(r2.results[1]!.attachedId, verdictId);
    assert.equal(r2.results[1]!.attachedId, r2.results[1]!.progId);
    const got2 = await udpExchange({ from: nsA!, to: nsB!, dst: '198.18.0.2', ports: [9], count: 3 });
    assert.equal(got2[9], 3, 'xdp_pass lets port 9 through');

    // replacing back and forth under traffic loses nothing (port 10 passes in both programs)
    const swaps: unknown[] = [];
    for (let i = 0; i < 60; i++) swaps.push({ op: 'xdp', prog: i % 2 ? 'xdp_pass' : 'xdp_verdict', ifname: v.b }, { op: 'sleep', ms: 10 });
    const swapper = spawn('ip', ['netns', 'exec', nsB!, process.execPath, join(REPO, CHILD), JSON.stringify(spec(swaps))], { stdio: ['ignore', 'pipe', 'pipe'] });
    let swapOut = '';
    let swapErr = '';
    swapper.stdout.setEncoding('utf8').on('data', (d: string) => (swapOut += d));
    swapper.stderr.setEncoding('utf8').on('data', (d: string) => (swapErr += d));
    const swapDone = new Promise<number>((res) => swapper.on('close', (c) => res(c ?? -1)));
    for (const until = Date.now() + 10_000; !swapErr.includes('loaded') && Date.now() < until; ) await new Promise((r) => setTimeout(r, 5));
    assert.ok(swapErr.includes('loaded'), `swapper did not start: ${swapErr}`);
    const during = await udpExchange({ from: nsA!, to: nsB!, dst: '198.18.0.2', ports: [10], count: 150 });
    assert.equal(await swapDone, 0, swapOut);
    const swapRes = (JSON.parse(swapOut.trim().split('\n').pop()!) as ChildOut).results;
    assert.ok(swapRes.every((r) => r.ok), 'every swap succeeded');
    assert.equal(during[10], 150, 'no packet lost while programs were swapped');
    assert.equal(swapRes.length, 120);

    // detach
    const r3 = child(nsB!, spec([{ op: 'xdp-detach', ifname: v.b }]));
    assert.equal(r3.results[0]!.attachedId, 0);
    // generic mode works too, and a later attach without a mode replaces in the active mode
    const r4 = child(nsB!, spec([
      { op: 'xdp', prog: 'xdp_verdict', ifname: v.b, mode: 'generic' },
      { op: 'xdp', prog: 'xdp_pass', ifname: v.b },
      { op: 'xdp', prog: 'xdp_verdict', ifname: v.b, mode: 'native' },
      { op: 'xdp-detach', ifname: v.b },
    ]));
    assert.ok(r4.results[0]!.ok, r4.results[0]!.message);
    assert.ok(r4.results[0]!.attachedId! > 0);
    assert.ok(r4.results[1]!.ok, r4.results[1]!.message);
    assert.equal(r4.results[1]!.attachedId, r4.results[1]!.progId);
    assert.equal(r4.results[2]!.ok, false, 'native while generic is active is refused');
    assert.match(r4.results[2]!.message!, /kernel: .*XDP/);
    assert.equal(r4.results[3]!.attachedId, 0);
  }, 2);
});

test('TC in a netns: clsact attach on both directions, replace, detach', async (t) => {
  if (skipUnlessBpf(t, NEEDS)) return;
  const pinDir = makePinDir('tb');
  t.after(() => removePinDir(pinDir));
  await withNetns('tb', async (nsA, nsB) => {
    const v = vethPair(nsA!, nsB!, { prefix: 'tb', addrA: ['198.18.1.1/24'], addrB: ['198.18.1.2/24'] });
    const spec = (ops: unknown[]) => ({ object: OBJ, pinRoot: pinDir, ops });
    const r1 = child(nsB!, spec([
      { op: 'tc', prog: 'tc_count', ifname: v.b, dir: 'ingress' },
      { op: 'tc', prog: 'tc_count', ifname: v.b, dir: 'ingress' }, // replace in place
      { op: 'tc', prog: 'tc_count', ifname: v.b, dir: 'egress', priority: 5 },
      { op: 'pin-map', map: 'totals', path: join(pinDir, 'totals') },
    ]));
    for (const r of r1.results.slice(0, 3)) assert.equal(r.attachedId, r.progId);
    const totals = BpfMap.openPinned(join(pinDir, 'totals'));
    t.after(() => totals.close());
    const read = () => totals.lookup(key32(3))!.readBigUInt64LE(0);
    const c0 = read();
    const got = await udpExchange({ from: nsA!, to: nsB!, dst: '198.18.1.2', ports: [7000], count: 4 });
    assert.equal(got[7000], 4);
    assert.ok(read() - c0 >= 4n, `tc counted ${read() - c0}`);

    const r2 = child(nsB!, spec([
      { op: 'tc-id', ifname: v.b, dir: 'ingress' },
      { op: 'tc-detach', ifname: v.b, dir: 'ingress' },
      { op: 'tc-id', ifname: v.b, dir: 'egress', priority: 5 },
      { op: 'tc-detach', ifname: v.b, dir: 'egress', priority: 5 },
      { op: 'tc-detach', ifname: v.b, dir: 'egress', priority: 5 }, // absent: no-op
    ]));
    assert.ok(r2.results[0]!.attachedId! > 0, 'survived the previous child');
    assert.equal(r2.results[1]!.attachedId, 0);
    assert.ok(r2.results[2]!.attachedId! > 0);
    assert.equal(r2.results[3]!.attachedId, 0);
    const c1 = read();
    await udpExchange({ from: nsA!, to: nsB!, dst: '198.18.1.2', ports: [7000], count: 2 });
    assert.equal(read(), c1, 'no counting after detach');
  }, 2);
});

test('withNetns removes its namespaces when the callback throws', async (t) => {
  if (skipUnlessRoot(t)) return;
  let seen: string[] = [];
  await assert.rejects(
    withNetns('tb', (a, b) => {
      seen = [a!, b!];
      assert.ok(netnsExists(a!) && netnsExists(b!));
      throw new Error('boom');
    }, 2),
    /boom/,
  );
  assert.equal(seen.length, 2);
  for (const n of seen) assert.equal(netnsExists(n), false, `${n} removed`);
});

function netnsExists(name: string): boolean {
  return existsSync(`/run/netns/${name}`);
}

test('BpfProgram static queries report 0 on an interface without programs', async (t) => {
  if (skipUnlessBpf(t, NEEDS)) return;
  // loopback of a fresh namespace: nothing attached
  await withNetns('tb', (ns) => {
    const out = child(ns!, { object: OBJ, pinRoot: makePinDirOnce(t), ops: [{ op: 'xdp-id', ifname: 'lo' }, { op: 'tc-id', ifname: 'lo', dir: 'ingress' }] });
    assert.equal(out.results[0]!.attachedId, 0);
    assert.equal(out.results[1]!.attachedId, 0);
  });
  assert.equal(typeof BpfProgram.xdpAttachedId, 'function');
});

function makePinDirOnce(t: { after: (fn: () => void) => void }): string {
  const d = makePinDir('tb');
  t.after(() => removePinDir(d));
  return d;
}
