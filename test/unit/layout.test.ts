/**
 * The map layouts seen by the datapath (bpf/maps/*.h, compiled here with gcc for x86_64, which
 * lays structs out like clang -target bpf) must equal the TypeScript codecs byte for byte, and
 * the shared constants must agree. A drifting header fails here instead of corrupting a map.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { LAYOUTS, CONSTANTS, LAYOUT_HEADERS } from '../../src/datapath/layouts.js';
import { assertCLayout, gccSkipReason } from '../helpers/c-layout.js';

const ROOT = process.cwd();

test('every map header in bpf/maps owned by the host firewall is covered', () => {
  const fw = ['config.h', 'rule_tuples.h', 'rule_keys.h', 'rule_actions.h', 'ct.h', 'limit.h', 'frag.h', 'events.h', 'ev_budget.h', 'stats.h', 'xdp_meta.h', 'scratch.h', 'nf_scratch.h'];
  const present = readdirSync(join(ROOT, 'bpf/maps'));
  for (const h of fw) {
    assert.ok(present.includes(h), `bpf/maps/${h} exists`);
    assert.ok(LAYOUT_HEADERS.includes(h), `${h} is checked`);
  }
});

test('C map layouts and constants equal the TypeScript codecs', (t) => {
  const skip = gccSkipReason();
  if (skip) return t.skip(skip);
  const checked = assertCLayout({ headers: LAYOUT_HEADERS.map((h) => `maps/${h}`), structs: LAYOUTS.map((l) => l.codec), consts: CONSTANTS });
  assert.ok(checked > 60, `checked ${checked} fields`);
});
