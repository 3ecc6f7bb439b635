/**
 * Keys of the identity claims: the SipHash-2-4 reference used to check the BPF implementation
 * and to verify captured claims, and the derivation of pairwise node keys.
 *
 * Key hierarchy: the control plane holds one cluster secret (>= 32 random bytes). The key for
 * the node pair {a, b} in epoch e is HKDF-SHA256(secret, salt "difw-claim-v1",
 * info "pair <min(a,b)> <max(a,b)> <e>", 16 bytes). It is symmetric: a and b derive the same key,
 * and the sending node id is part of the MAC input, so a claim from a to b cannot pass as one
 * from b to a. Each node is given only the keys of pairs it belongs to (including {n, n} for
 * pod-to-pod traffic on one node), so a compromised node learns nothing about other pairs.
 *
 * Rotation: epochs are 8-bit and wrap. Receivers accept claims of their send epoch -1, +0 and +1
 * when they hold the key, so a rotation is: install keys of (cur, next) everywhere, switch every
 * node's send epoch to next, later drop cur. Claims exist only on SYN / SYN-ACK, so established
 * connections never notice a rotation (docs/wire-format.md).
 */
import { hkdfSync, randomBytes } from 'node:crypto';
import { DifwError } from '../errors.js';

const MASK64 = (1n << 64n) - 1n;
const rotl = (x: bigint, b: bigint) => ((x << b) | (x >> (64n - b))) & MASK64;

/** SipHash-2-4 of `msg` under the 16-byte `key` (paper convention: k0/k1 little endian). */
export function siphash24(key: Buffer, msg: Buffer): bigint {
  if (key.length !== 16) throw new RangeError(`Cannot use a ${key.length}-byte SipHash key (need 16)`);
  const k0 = key.readBigUInt64LE(0);
  const k1 = key.readBigUInt64LE(8);
  let v0 = k0 ^ 0x736f6d6570736575n;
  let v1 = k1 ^ 0x646f72616e646f6dn;
  let v2 = k0 ^ 0x6c7967656e657261n;
  let v3 = k1 ^ 0x7465646279746573n;
  const round = () => {
    v0 = (v0 + v1) & MASK64; v1 = rotl(v1, 13n); v1 ^= v0; v0 = rotl(v0, 32n);
    v2 = (v2 + v3) & MASK64; v3 = rotl(v3, 16n); v3 ^= v2;
    v0 = (v0 + v3) & MASK64; v3 = rotl(v3, 21n); v3 ^= v0;
    v2 = (v2 + v1) & MASK64; v1 = rotl(v1, 17n); v1 ^= v2; v2 = rotl(v2, 32n);
  };
  const compress = (m: bigint) => {
    v3 ^= m;
    round();
    round();
    v0 ^= m;
  };
  const whole = msg.length - (msg.length % 8);
  for (let i = 0; i < whole; i += 8) compress(msg.readBigUInt64LE(i));
  let last = BigInt(msg.length & 0xff) << 56n;
  for (let i = whole; i < msg.length; i++) last |= BigInt(msg[i]!) << BigInt(8 * (i - whole));
  compress(last);
  v2 ^= 0xffn;
  round();
  round();
  round();
  round();
  return v0 ^ v1 ^ v2 ^ v3;
}

export const CLAIM_KEY_SALT = 'difw-claim-v1';
export const MIN_SECRET_BYTES = 32;

/** A fresh cluster secret. */
export function newClusterSecret(): Buffer {
  return randomBytes(MIN_SECRET_BYTES);
}

function checkNode(n: number): void {
  if (!Number.isInteger(n) || n < 1 || n > 0xffff) throw new DifwError('DIFW_E_USAGE', `Cannot use node id ${n}: node ids are 1..65535`);
}

function checkEpoch(e: number): void {
  if (!Number.isInteger(e) || e < 0 || e > 0xff) throw new DifwError('DIFW_E_USAGE', `Cannot use key epoch ${e}: epochs are 0..255`);
}

/** K(a, b, epoch): the 16-byte SipHash key shared by nodes a and b in `epoch`. */
export function pairKey(secret: Buffer, a: number, b: number, epoch: number): Buffer {
  if (secret.length < MIN_SECRET_BYTES) throw new DifwError('DIFW_E_USAGE', `Cannot derive claim keys from a ${secret.length}-byte secret (need ${MIN_SECRET_BYTES})`);
  checkNode(a);
  checkNode(b);
  checkEpoch(epoch);
  const info = `pair ${Math.min(a, b)} ${Math.max(a, b)} ${epoch}`;
  return Buffer.from(hkdfSync('sha256', secret, CLAIM_KEY_SALT, info, 16));
}

/** One key as a node stores it: the other node of the pair, the epoch, the key bytes. */
export interface PeerKey {
  node: number;
  epoch: number;
  key: Buffer;
}

/** Everything node `self` needs for `epochs`: one key per (peer incl. itself, epoch). */
export function nodeKeyring(secret: Buffer, self: number, nodes: readonly number[], epochs: readonly number[]): PeerKey[] {
  const peers = [...new Set([self, ...nodes])].sort((x, y) => x - y);
  const out: PeerKey[] = [];
  for (const epoch of epochs) for (const node of peers) out.push({ node, epoch, key: pairKey(secret, self, node, epoch) });
  return out;
}

/** The epoch after `e` (8-bit, wraps). */
export function nextEpoch(e: number): number {
  checkEpoch(e);
  return (e + 1) & 0xff;
}

/** The epoch before `e` (8-bit, wraps). */
export function prevEpoch(e: number): number {
  checkEpoch(e);
  return (e + 255) & 0xff;
}

/**
 * Epochs a node should hold keys for while stamping with `sendEpoch`: the previous one (claims
 * stamped by nodes that have not switched yet, handshakes in flight) and the current one; with
 * `next`, also the one after (step 1 of a rotation, docs/wire-format.md). Wraps at 256.
 */
export function epochsToInstall(sendEpoch: number, opts: { next?: boolean } = {}): number[] {
  const out = [prevEpoch(sendEpoch), sendEpoch];
  if (opts.next) out.push(nextEpoch(sendEpoch));
  return [...new Set(out)];
}
