/**
 * The pod policy map codecs (src/policy/netpol/layouts.ts) against bpf/maps/pod_*.h: gcc
 * compiles the headers and prints sizeof / offsetof of every struct and field.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { podStructs, podHeaders } from '../../src/policy/netpol/layouts.js';

const repo = resolve(import.meta.dirname, '../../..');

test('pod policy map codecs match the C headers', (t) => {
  try {
    execFileSync('gcc', ['--version'], { stdio: 'pipe' });
  } catch {
    return t.skip('gcc is not installed');
  }
  const dir = mkdtempSync(join(tmpdir(), 'tp-layout-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const lines: string[] = [];
  for (const s of podStructs) {
    lines.push(`printf("${s.cName} size %zu\\n", sizeof(struct ${s.cName}));`);
    for (const f of Object.keys(s.offsets)) lines.push(`printf("${s.cName} ${f} %zu\\n", offsetof(struct ${s.cName}, ${f}));`);
  }
  const src = ['#include <stddef.h>', '#include <stdio.h>', '#include <linux/types.h>', '#include <linux/bpf.h>', '#include <bpf/bpf_helpers.h>', ...podHeaders.map((h) => `#include "${h}"`), 'int main(void) {', ...lines, 'return 0; }'].join('\n');
  writeFileSync(join(dir, 'l.c'), src);
  execFileSync('gcc', ['-w', '-I', join(repo, 'bpf'), '-o', join(dir, 'l'), join(dir, 'l.c')], { stdio: 'pipe' });
  const got = new Map<string, number>();
  for (const l of execFileSync(join(dir, 'l'), { encoding: 'utf8' }).trim().split('\n')) {
    const [n, f, v] = l.split(' ');
    got.set(`${n} ${f}`, Number(v));
  }
  let checked = 0;
  for (const s of podStructs) {
    assert.equal(s.size, got.get(`${s.cName} size`), `sizeof(struct ${s.cName})`);
    for (const [f, off] of Object.entries(s.offsets)) {
      assert.equal(off, got.get(`${s.cName} ${f}`), `offsetof(struct ${s.cName}, ${f})`);
      checked++;
    }
  }
  assert.ok(checked >= 40, `checked ${checked} fields`);
});
