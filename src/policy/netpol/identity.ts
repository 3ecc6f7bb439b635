/**
 * Identities: a workload's identity is its identity-relevant label set, i.e. all of its pod
 * labels plus all labels of its namespace (with `kubernetes.io/metadata.name` always present).
 * The canonical form is the JSON text of [pod label pairs sorted by key, namespace label pairs
 * sorted by key]: unambiguous whatever the label text is.
 *
 * Number: SHA-256 of the canonical form, first 4 bytes, folded into [256, 2^31). The same label
 * set gets the same number on every node and after every restart, with no coordination. The
 * allocator checks collisions over the whole set it is given: label sets are processed in
 * canonical-string order and a set whose number is taken is re-hashed with a salt (`#1`, `#2`…),
 * so all nodes compiling the same objects agree. (A new label set that collides AND sorts before
 * an existing one would move the existing one; at 2^-31 per pair this is accepted.)
 *
 * Reserved: 0 unknown / any, 1 host, 2 world (unauthenticated or outside the cluster), 3–255
 * reserved. Numbers with the top bit set are node-local CIDR identities (see compile.ts); they
 * never appear on the wire.
 */
import { createHash } from 'node:crypto';
import type { Labels } from './selectors.js';

export const ID_UNKNOWN = 0;
export const ID_HOST = 1;
export const ID_WORLD = 2;
export const ID_FIRST_ALLOCATED = 256;
export const ID_CIDR_BASE = 0x80000000;

const sortedPairs = (l: Labels) => Object.entries(l).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

export function canonicalLabels(podLabels: Labels, nsLabels: Labels): string {
  return JSON.stringify([sortedPairs(podLabels), sortedPairs(nsLabels)]);
}

export function hashIdentity(canonical: string, salt = 0): number {
  const h = createHash('sha256').update(salt === 0 ? canonical : `${canonical}#${salt}`).digest();
  return ID_FIRST_ALLOCATED + (h.readUInt32BE(0) % (ID_CIDR_BASE - ID_FIRST_ALLOCATED));
}

/** Allocate numbers for a set of canonical label sets (collision-checked, deterministic). */
export function allocateIdentities(canonicals: Iterable<string>): Map<string, number> {
  const out = new Map<string, number>();
  const taken = new Set<number>();
  for (const c of [...new Set(canonicals)].sort()) {
    let salt = 0;
    let id = hashIdentity(c);
    while (taken.has(id)) id = hashIdentity(c, ++salt);
    taken.add(id);
    out.set(c, id);
  }
  return out;
}
