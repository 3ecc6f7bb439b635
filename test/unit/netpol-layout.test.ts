/**
 * The pod policy map codecs (src/policy/netpol/layouts.ts) against bpf/maps/pod_*.h: gcc
 * compiles the headers and prints sizeof / offsetof of every struct and field.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { podStructs, podHeaders } from '../../src/policy/netpol/layouts.js';
import { assertCLayout, gccSkipReason } from '../helpers/c-layout.js';

test('pod policy map codecs match the C headers', (t) => {
  const skip = gccSkipReason();
  if (skip) return t.skip(skip);
  const checked = assertCLayout({ headers: podHeaders, structs: podStructs });
  assert.ok(checked >= 40, `checked ${checked} fields`);
});
