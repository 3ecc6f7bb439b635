/**
 * The claim map codecs (src/identity/layouts.ts) against the C headers (bpf/maps/claim_*.h):
 * gcc compiles the headers and prints sizeof / offsetof of every struct and field the codecs
 * declare. x86_64 gcc and clang -target bpf share the LP64 layout rules for these types.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { claimStructs, claimHeaders, CLAIM_REPLAY_SLOTS, CLAIM_CFG_F_STAMP, ClaimStat, CLAIM_ST_MAX } from '../../src/identity/layouts.js';
import { assertCLayout, gccSkipReason } from '../helpers/c-layout.js';

test('claim map codecs match the C headers', (t) => {
  const skip = gccSkipReason();
  if (skip) return t.skip(skip);
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
  const checked = assertCLayout({ headers: claimHeaders, structs: claimStructs, consts });
  assert.ok(checked >= 16, `checked ${checked} fields`);
});
