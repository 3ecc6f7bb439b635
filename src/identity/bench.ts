/**
 * Cost of claim verification per SYN through BPF_PROG_TEST_RUN, for `make bench`
 * (bench/main.ts calls every `bench*` export of src/identity/) and test/bpf/claim.test.ts.
 *
 * Runs the test TC program around claim_verify() (build/fixtures/claim_verify_test.bpf.o; it
 * parses Ethernet/IP/TCP like the policy program and calls the same inline function) on a
 * genuine stamped SYN, with maps set up through ClaimDatapath on a private pin dir:
 *   accept       the full path of a new claim: MAC, hosted check, replay-cache insert
 *                (program claim_verify_fresh_tc salts the replay key per run, so each of the
 *                `repeat` runs is a new claim);
 *   replay       the same SYN repeated: the first run accepts, the others are rejected as
 *                replays after the full MAC (what a replay flood costs);
 *   noReplay     the MAC and checks without the replay cache;
 *   unstamped    a SYN without a claim (parse + option walk);
 *   floor        a frame the program ignores before claim_verify (test-run overhead).
 * Each figure is the minimum over `runs` test runs of `repeat` repetitions (kernel's average).
 */
import { existsSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { randomInt } from 'node:crypto';
import { BpfObject, type BpfProgram } from '../bpf/index.js';
import { BPFFS_ROOT, ensureBpffs } from '../state/paths.js';
import { ClaimDatapath } from './claims.js';
import { newClusterSecret, nodeKeyring, pairKey } from './keys.js';
import { ClaimResult, claimMac, encodeClaimOption } from './wire.js';
import { tcpFrame, linuxSynOptions } from './frames.js';

const REPO = resolve(import.meta.dirname, '../../..');
export const CLAIM_VERIFY_FIXTURE = join(REPO, 'build/fixtures/claim_verify_test.bpf.o');

export interface ClaimVerifyCost {
  acceptNs: number;
  replayNs: number;
  noReplayNs: number;
  unstampedNs: number;
  floorNs: number;
  repeat: number;
  runs: number;
}

export function measureClaimVerify(opts: { objDir?: string; fixture?: string; pinDir?: string; repeat?: number; runs?: number } = {}): ClaimVerifyCost {
  const objDir = opts.objDir ?? join(REPO, 'build');
  const fixture = opts.fixture ?? CLAIM_VERIFY_FIXTURE;
  const repeat = opts.repeat ?? 200_000;
  const runs = opts.runs ?? 5;
  ensureBpffs();
  const pinDir = opts.pinDir ?? join(BPFFS_ROOT, `claim-bench-${process.pid}`);
  const obj = BpfObject.open(fixture, { pinRoot: pinDir });
  let dp: ClaimDatapath | undefined;
  try {
    obj.load();
    dp = ClaimDatapath.load({ pinDir, objDir });
    const self = 2;
    const sender = 1;
    const epoch = 1;
    const identity = 300;
    const secret = newClusterSecret();
    dp.setNode(self);
    dp.installKeys(nodeKeyring(secret, self, [sender], [epoch]), { sendEpoch: epoch });
    dp.setHosted(sender, identity, true);
    const syn = (stamped: boolean) => {
      const c = { saddr: '198.18.1.1', daddr: '198.18.2.2', sport: randomInt(1024, 65536), dport: 443, isn: randomInt(0, 2 ** 32), peerIsn: 0, synack: false };
      const o = { identity, node: sender, epoch, version: 1 };
      const claim = stamped ? encodeClaimOption({ ...o, mac: claimMac(pairKey(secret, sender, self, epoch), o, c) }) : Buffer.alloc(0);
      return tcpFrame({ ...c, seq: c.isn, options: Buffer.concat([linuxSynOptions(), claim]) });
    };
    const best = (prog: BpfProgram, frame: () => Buffer, expect?: ClaimResult) => {
      let min = Infinity;
      for (let i = 0; i < runs; i++) {
        const r = prog.testRun({ data: frame(), repeat });
        if (expect !== undefined && r.retval !== expect) throw new Error(`Cannot measure ${prog.name}: verdict ${ClaimResult[r.retval] ?? r.retval}, expected ${ClaimResult[expect]}`);
        min = Math.min(min, r.durationNs);
      }
      return min;
    };
    const one = syn(true);
    const plain = syn(false);
    return {
      acceptNs: best(obj.program('claim_verify_fresh_tc'), () => one, ClaimResult.OK),
      replayNs: best(obj.program('claim_verify_tc'), () => syn(true), ClaimResult.REPLAY),
      noReplayNs: best(obj.program('claim_verify_noreplay_tc'), () => one, ClaimResult.OK),
      unstampedNs: best(obj.program('claim_verify_tc'), () => plain, ClaimResult.NONE),
      floorNs: best(obj.program('claim_observe_tc'), () => Buffer.alloc(64)),
      repeat,
      runs,
    };
  } finally {
    dp?.close();
    obj.close();
    if (!opts.pinDir) rmSync(pinDir, { recursive: true, force: true });
  }
}

/** bench/main.ts entry: rows {name, value, unit, note}. */
export async function benchClaimVerify(): Promise<{ name: string; value: number | null; unit: string; note: string }[]> {
  if (process.getuid?.() !== 0) return [{ name: 'claim verification per SYN', value: null, unit: 'ns/SYN', note: 'needs root' }];
  if (!existsSync(CLAIM_VERIFY_FIXTURE)) return [{ name: 'claim verification per SYN', value: null, unit: 'ns/SYN', note: `missing ${CLAIM_VERIFY_FIXTURE} (make build)` }];
  const c = measureClaimVerify();
  const how = `BPF_PROG_TEST_RUN, min of ${c.runs} x ${c.repeat}; target <= 300; test-run floor ${c.floorNs} ns`;
  return [
    { name: 'claim verification per SYN (accept: MAC + replay-cache insert)', value: c.acceptNs, unit: 'ns/SYN', note: how },
    { name: 'claim verification per SYN (replay rejected)', value: c.replayNs, unit: 'ns/SYN', note: how },
    { name: 'unstamped SYN through the verifier', value: c.unstampedNs, unit: 'ns/SYN', note: how },
  ];
}
