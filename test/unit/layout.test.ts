/**
 * The map layouts seen by the datapath (bpf/maps/*.h, compiled here with gcc for x86_64, which
 * lays structs out like clang -target bpf) must equal the TypeScript codecs byte for byte, and
 * the shared constants must agree. A drifting header fails here instead of corrupting a map.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LAYOUTS, CONSTANTS, LAYOUT_HEADERS } from '../../src/datapath/layouts.js';

const ROOT = process.cwd();

function cProgram(): string {
  const lines: string[] = ['#include <stdio.h>', '#include <stddef.h>'];
  for (const h of LAYOUT_HEADERS) lines.push(`#include "maps/${h}"`);
  lines.push('int main(void) {');
  for (const { codec } of LAYOUTS) {
    lines.push(`  printf("size %s %zu\\n", "${codec.cName}", sizeof(struct ${codec.cName}));`);
    for (const f of Object.keys(codec.offsets)) lines.push(`  printf("off %s.%s %zu\\n", "${codec.cName}", "${f}", offsetof(struct ${codec.cName}, ${f}));`);
  }
  for (const name of Object.keys(CONSTANTS)) lines.push(`  printf("const %s %llu\\n", "${name}", (unsigned long long)(${name}));`);
  lines.push('  return 0;', '}');
  return lines.join('\n');
}

test('every map header in bpf/maps owned by the host firewall is covered', () => {
  const fw = ['config.h', 'rule_tuples.h', 'rule_keys.h', 'rule_actions.h', 'ct.h', 'limit.h', 'frag.h', 'events.h', 'ev_budget.h', 'stats.h', 'xdp_meta.h', 'scratch.h', 'nf_scratch.h'];
  const present = readdirSync(join(ROOT, 'bpf/maps'));
  for (const h of fw) {
    assert.ok(present.includes(h), `bpf/maps/${h} exists`);
    assert.ok(LAYOUT_HEADERS.includes(h), `${h} is checked`);
  }
});

test('C map layouts and constants equal the TypeScript codecs', (t) => {
  if (spawnSync('gcc', ['--version']).status !== 0) return t.skip('gcc is not installed');
  const dir = mkdtempSync(join(tmpdir(), 'difw-layout-'));
  try {
    const src = join(dir, 'layout.c');
    const bin = join(dir, 'layout');
    writeFileSync(src, cProgram());
    execFileSync('gcc', ['-Wall', '-Werror', '-I', join(ROOT, 'bpf'), '-o', bin, src], { stdio: 'pipe' });
    const out = execFileSync(bin, { encoding: 'utf8' });
    const got = new Map<string, number>();
    for (const l of out.trim().split('\n')) {
      const [kind, name, v] = l.split(' ');
      got.set(`${kind} ${name}`, Number(v));
    }
    let checked = 0;
    for (const { codec } of LAYOUTS) {
      assert.equal(codec.size, got.get(`size ${codec.cName}`), `sizeof(struct ${codec.cName})`);
      for (const [f, off] of Object.entries(codec.offsets)) {
        assert.equal(off, got.get(`off ${codec.cName}.${f}`), `offsetof(struct ${codec.cName}, ${f})`);
        checked++;
      }
    }
    for (const [name, v] of Object.entries(CONSTANTS)) assert.equal(v, got.get(`const ${name}`), name);
    assert.ok(checked > 60, `checked ${checked} fields`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
