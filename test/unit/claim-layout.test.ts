/**
 * The claim map codecs (src/identity/layouts.ts) against the C headers (bpf/maps/claim_*.h):
 * gcc compiles the headers and prints sizeof / offsetof of every struct and field the codecs
 * declare. x86_64 gcc and clang -target bpf share the LP64 layout rules for these types.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { claimStructs, claimHeaders, CLAIM_REPLAY_SLOTS, CLAIM_CFG_F_STAMP, ClaimStat, CLAIM_ST_MAX } from '../../src/identity/layouts.js';

const repo = resolve(import.meta.dirname, '../../..');

function hasGcc(): boolean {
  try {
    execFileSync('gcc', ['--version'], { stdio: 'pipe' });
    return true;
  } catch {
    return false;
  }
}

test('claim map codecs match the C headers', (t) => {
  if (!hasGcc()) {
    t.skip('gcc is not installed');
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'tk-layout-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const lines: string[] = [];
  for (const s of claimStructs) {
    lines.push(`printf("${s.cName} size %zu\\n", sizeof(struct ${s.cName}));`);
    for (const f of Object.keys(s.offsets)) lines.push(`printf("${s.cName} ${f} %zu\\n", offsetof(struct ${s.cName}, ${f}));`);
  }
  const consts: Record<string, number> = {
    CLAIM_REPLAY_SLOTS,
    CLAIM_CFG_F_STAMP,
    CLAIM_ST_MAX,
    CLAIM_ST_STAMP_SYN: ClaimStat.STAMP_SYN,
    CLAIM_ST_STAMP_SYNACK: ClaimStat.STAMP_SYNACK,
    CLAIM_ST_SKIP_LOCAL: ClaimStat.SKIP_LOCAL,
    CLAIM_ST_SKIP_PEER: ClaimStat.SKIP_PEER,
    CLAIM_ST_SKIP_KEY: ClaimStat.SKIP_KEY,
    CLAIM_ST_SKIP_SPACE: ClaimStat.SKIP_SPACE,
    CLAIM_ST_STORE_ERR: ClaimStat.STORE_ERR,
  };
  for (const name of Object.keys(consts)) lines.push(`printf("const ${name} %lu\\n", (unsigned long)(${name}));`);
  const src = [
    '#include <stddef.h>',
    '#include <stdio.h>',
    '#include <linux/types.h>',
    '#include <linux/bpf.h>',
    '#include <bpf/bpf_helpers.h>',
    ...claimHeaders.map((h) => `#include "${h}"`),
    'int main(void) {',
    ...lines,
    'return 0; }',
  ].join('\n');
  writeFileSync(join(dir, 'l.c'), src);
  execFileSync('gcc', ['-w', '-I', join(repo, 'bpf'), '-o', join(dir, 'l'), join(dir, 'l.c')], { stdio: 'pipe' });
  const got = new Map<string, number>();
  for (const l of execFileSync(join(dir, 'l'), { encoding: 'utf8' }).trim().split('\n')) {
    const [n, f, v] = l.split(' ');
    got.set(`${n} ${f}`, Number(v));
  }
  let checked = 0;
  for (const s of claimStructs) {
    assert.equal(s.size, got.get(`${s.cName} size`), `sizeof(struct ${s.cName})`);
    for (const [f, off] of Object.entries(s.offsets)) {
      assert.equal(off, got.get(`${s.cName} ${f}`), `offsetof(struct ${s.cName}, ${f})`);
      checked++;
    }
  }
  assert.ok(checked >= 16, `checked ${checked} fields`);
  for (const [name, v] of Object.entries(consts)) assert.equal(v, got.get(`const ${name}`), name);
});
