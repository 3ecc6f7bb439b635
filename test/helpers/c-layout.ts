/**
 * Checks TypeScript struct codecs against the C map headers they mirror: gcc compiles the
 * headers into a tiny program that prints sizeof / offsetof of every struct and field the codecs
 * declare (and the value of shared constants). x86_64 gcc and clang -target bpf lay these
 * structs out by the same LP64 rules, so equality here means equality in the datapath.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StructCodec } from '../../src/bpf/codec.js';
import { REPO } from './env.js';

/** Why the layout check cannot run here, or null. */
export function gccSkipReason(): string | null {
  return spawnSync('gcc', ['--version']).status === 0 ? null : 'gcc is not installed';
}

export interface LayoutCheck {
  /** Headers to include, relative to bpf/ (e.g. 'maps/ct.h'). */
  headers: string[];
  structs: ReadonlyArray<StructCodec<any>>;
  consts?: Readonly<Record<string, number>>;
}

/** Assert every size, offset and constant; returns how many fields were compared. */
export function assertCLayout(check: LayoutCheck): number {
  const lines = ['#include <stddef.h>', '#include <stdio.h>', '#include <linux/types.h>', '#include <linux/bpf.h>', '#include <bpf/bpf_helpers.h>'];
  for (const h of check.headers) lines.push(`#include "${h}"`);
  lines.push('int main(void) {');
  for (const s of check.structs) {
    lines.push(`  printf("size %s %zu\\n", "${s.cName}", sizeof(struct ${s.cName}));`);
    for (const f of Object.keys(s.offsets)) lines.push(`  printf("off %s.%s %zu\\n", "${s.cName}", "${f}", offsetof(struct ${s.cName}, ${f}));`);
  }
  for (const name of Object.keys(check.consts ?? {})) lines.push(`  printf("const %s %llu\\n", "${name}", (unsigned long long)(${name}));`);
  lines.push('  return 0;', '}');

  const dir = mkdtempSync(join(tmpdir(), 'difw-layout-'));
  try {
    writeFileSync(join(dir, 'layout.c'), lines.join('\n'));
    execFileSync('gcc', ['-w', '-I', join(REPO, 'bpf'), '-o', join(dir, 'layout'), join(dir, 'layout.c')], { stdio: 'pipe' });
    const got = new Map<string, number>();
    for (const l of execFileSync(join(dir, 'layout'), { encoding: 'utf8' }).trim().split('\n')) {
      const [kind, name, v] = l.split(' ');
      got.set(`${kind} ${name}`, Number(v));
    }
    let checked = 0;
    for (const s of check.structs) {
      assert.equal(s.size, got.get(`size ${s.cName}`), `sizeof(struct ${s.cName})`);
      for (const [f, off] of Object.entries(s.offsets)) {
        assert.equal(off, got.get(`off ${s.cName}.${f}`), `offsetof(struct ${s.cName}, ${f})`);
        checked++;
      }
    }
    for (const [name, v] of Object.entries(check.consts ?? {})) assert.equal(v, got.get(`const ${name}`), name);
    return checked;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
