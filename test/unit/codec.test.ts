/**
 * Codec round trips and C layout math (src/bpf/codec.ts), per-CPU value math (src/bpf/map.ts),
 * and the koffi option structs of the libbpf binding checked against gcc's layout of the
 * installed libbpf headers. No root needed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { struct, array, bytes, u8, u16, u32, u64, s32, be16, be32, perCpuStride, splitPerCpu, type Codec } from '../../src/bpf/index.js';
import { optionStructLayouts } from '../../src/bpf/libbpf.js';

function roundTrip<T>(c: Codec<T>, v: T): T {
  const b = Buffer.alloc(c.size + 3);
  c.write(b, 3, v);
  return c.read(b, 3);
}

test('scalars round-trip and use the documented byte order', () => {
  assert.equal(roundTrip(u8, 255), 255);
  assert.equal(roundTrip(u16, 0xbeef), 0xbeef);
  assert.equal(roundTrip(u32, 0xffffffff), 0xffffffff);
  assert.equal(roundTrip(u32, -1), 0xffffffff, 'u32 wraps negatives like C');
  assert.equal(roundTrip(u64, 2n ** 64n - 1n), 2n ** 64n - 1n);
  assert.equal(roundTrip(s32, -5), -5);
  const b = Buffer.alloc(4);
  u32.write(b, 0, 0x01020304);
  assert.deepEqual([...b], [4, 3, 2, 1], 'u32 is little endian (host order)');
  be32.write(b, 0, 0xc6120001);
  assert.deepEqual([...b], [198, 18, 0, 1], 'be32 is network order');
  const p = Buffer.alloc(2);
  be16.write(p, 0, 443);
  assert.deepEqual([...p], [1, 187]);
  assert.equal(be16.read(p, 0), 443);
});

test('bytes and array codecs pad, bound and copy', () => {
  const c = bytes(6);
  const b = Buffer.alloc(6, 0xff);
  c.write(b, 0, Buffer.from([1, 2]));
  assert.deepEqual([...b], [1, 2, 0, 0, 0, 0]);
  const r = c.read(b, 0);
  b[0] = 9;
  assert.equal(r[0], 1, 'read returns a copy');
  assert.throws(() => c.write(b, 0, Buffer.alloc(7)), RangeError);
  const a = array(u16, 3);
  assert.equal(a.size, 6);
  assert.equal(a.align, 2);
  assert.deepEqual(roundTrip(a, [1, 2]), [1, 2, 0]);
  assert.throws(() => roundTrip(a, [1, 2, 3, 4]), RangeError);
});

test('struct layout follows C alignment rules', () => {
  // struct { u8 a; u32 b; u16 c; u64 d; u8 e; } -> a@0 b@4 c@8 d@16 e@24, size 32, align 8
  const s = struct('mixed', [['a', u8], ['b', u32], ['c', u16], ['d', u64], ['e', u8]] as const);
  assert.deepEqual(s.offsets, { a: 0, b: 4, c: 8, d: 16, e: 24 });
  assert.equal(s.size, 32);
  assert.equal(s.align, 8);
  // nested struct and arrays
  const inner = struct('inner', [['x', u16], ['y', u8]] as const); // size 4, align 2
  assert.equal(inner.size, 4);
  const outer = struct('outer', [['flag', u8], ['in', inner], ['ips', array(be32, 2)], ['tag', bytes(3)]] as const);
  assert.deepEqual(outer.offsets, { flag: 0, in: 2, ips: 8, tag: 16 });
  assert.equal(outer.size, 20);
  assert.equal(outer.align, 4);
});

test('struct encode zeroes padding and missing fields; decode checks length', () => {
  const s = struct('k', [['proto', u8], ['port', be16], ['addr', be32]] as const);
  assert.equal(s.size, 8);
  const enc = s.encode({ proto: 6, port: 80, addr: 0xc6120002 });
  assert.deepEqual([...enc], [6, 0, 0, 80, 198, 18, 0, 2]);
  assert.deepEqual(s.decode(enc), { proto: 6, port: 80, addr: 0xc6120002 });
  const dirty = Buffer.alloc(8, 0xaa);
  s.write(dirty, 0, { proto: 17 } as never);
  assert.deepEqual([...dirty], [17, 0, 0, 0, 0, 0, 0, 0]);
  assert.throws(() => s.decode(Buffer.alloc(7)), RangeError);
  assert.equal(s.cName, 'k');
});

test('per-CPU values: 8-byte stride and split', () => {
  assert.equal(perCpuStride(1), 8);
  assert.equal(perCpuStride(8), 8);
  assert.equal(perCpuStride(12), 16);
  const blob = Buffer.alloc(32);
  blob.writeUInt32LE(7, 0);
  blob.writeUInt32LE(9, 16);
  const parts = splitPerCpu(blob, 12);
  assert.equal(parts.length, 2);
  assert.equal(parts[0]!.length, 12);
  assert.equal(parts[0]!.readUInt32LE(0), 7);
  assert.equal(parts[1]!.readUInt32LE(0), 9);
});

/** Compile and run a C program printing `name size off...`; null if gcc or headers are missing. */
function gccLayouts(program: string): string | null {
  if (spawnSync('gcc', ['--version']).status !== 0) return null;
  const dir = mkdtempSync(join(tmpdir(), 'tb-layout-'));
  try {
    writeFileSync(join(dir, 'l.c'), program);
    const cc = spawnSync('gcc', ['-o', join(dir, 'l'), join(dir, 'l.c')], { encoding: 'utf8' });
    if (cc.status !== 0) throw new Error(`gcc failed: ${cc.stderr}`);
    return spawnSync(join(dir, 'l'), { encoding: 'utf8' }).stdout;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('codec structs match gcc for the same C declaration', (t) => {
  const s = struct('probe', [['a', u8], ['b', u32], ['c', u16], ['d', u64], ['e', bytes(3)], ['f', array(u16, 3)]] as const);
  const out = gccLayouts(`#include <stdio.h>
#include <stddef.h>
#include <stdint.h>
struct probe { uint8_t a; uint32_t b; uint16_t c; uint64_t d; uint8_t e[3]; uint16_t f[3]; };
int main(void) { printf("%zu %zu %zu %zu %zu %zu %zu\\n", sizeof(struct probe), offsetof(struct probe, a), offsetof(struct probe, b),
  offsetof(struct probe, c), offsetof(struct probe, d), offsetof(struct probe, e), offsetof(struct probe, f)); return 0; }
`);
  if (out === null) return void t.skip('needs gcc');
  const [size, ...offs] = out.trim().split(' ').map(Number);
  assert.equal(s.size, size);
  assert.deepEqual(Object.values(s.offsets), offs);
});

test('libbpf option structs declared for koffi match the installed headers', (t) => {
  if (!existsSync('/usr/include/bpf/libbpf.h')) return void t.skip('needs libbpf-dev headers');
  const layouts = optionStructLayouts();
  const lines: string[] = [];
  for (const [name, l] of Object.entries(layouts)) {
    lines.push(`printf("${name} %zu\\n", sizeof(struct ${name}));`);
    for (const f of Object.keys(l.offsets)) lines.push(`printf("${name}.${f} %zu\\n", offsetof(struct ${name}, ${f}));`);
  }
  const out = gccLayouts(`#include <stdio.h>
#include <stddef.h>
#include <bpf/libbpf.h>
#include <bpf/bpf.h>
int main(void) { ${lines.join('\n')} return 0; }
`);
  if (out === null) return void t.skip('needs gcc');
  const c = new Map(out.trim().split('\n').map((l) => l.split(' ') as [string, string]));
  assert.ok(Object.keys(layouts).length >= 7);
  for (const [name, l] of Object.entries(layouts)) {
    assert.equal(l.size, Number(c.get(name)), `sizeof(struct ${name})`);
    for (const [f, o] of Object.entries(l.offsets)) assert.equal(o, Number(c.get(`${name}.${f}`)), `offsetof(struct ${name}, ${f})`);
  }
});
