/**
 * The claim option and its MAC input, in TypeScript: the reference for bpf/lib/claim.h
 * (docs/wire-format.md is the prose version). Used to build test packets and to verify claims
 * captured off the wire.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { siphash24 } from './keys.js';

export const CLAIM_TCPOPT_EXP = 254;
export const CLAIM_EXID = 0xd1f0;
export const CLAIM_OPT_LEN = 20;
export const CLAIM_VERSION = 1;
export const CLAIM_MAC_BYTES = 56;
export const CLAIM_MAC_BYTES_V4 = 32;

/** Mirrors enum claim_result in bpf/lib/claim.h. */
export enum ClaimResult {
  NONE = 0,
  OK = 1,
  BAD_MAC = 2,
  REPLAY = 3,
  STALE = 4,
  TRUNCATED = 5,
  UNKNOWN_NODE = 6,
  NOT_HOSTED = 7,
}

/** Fields of one claim option. `mac` is the 64-bit SipHash value (stored little endian). */
export interface ClaimOption {
  version: number;
  epoch: number;
  node: number;
  identity: number;
  mac: bigint;
}

/** What the MAC covers besides the claim's own identity / node / epoch. */
export interface ClaimConn {
  /** Address strings (IPv4 or IPv6) of the packet carrying the claim. */
  saddr: string;
  daddr: string;
  sport: number;
  dport: number;
  /** Sequence number of the SYN / SYN-ACK carrying the claim. */
  isn: number;
  /** SYN-ACK: the client's ISN (= the packet's ack - 1); SYN: 0. */
  peerIsn: number;
  synack: boolean;
}

/** 16 network-order bytes; IPv4 as ::ffff:a.b.c.d (struct claim_addr). */
export function addrBytes(ip: string): Buffer {
  if (isIPv4(ip)) {
    const b = Buffer.alloc(16);
    b.writeUInt16BE(0xffff, 10);
    ip.split('.').forEach((p, i) => (b[12 + i] = Number(p)));
    return b;
  }
  if (!isIPv6(ip)) throw new RangeError(`Cannot parse IP address ${ip}`);
  let s = ip.split('%')[0]!;
  const b = Buffer.alloc(16);
  const v4tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (v4tail) {
    const v4 = addrBytes(v4tail[1]!);
    s = s.slice(0, -v4tail[1]!.length) + `${v4.readUInt16BE(12).toString(16)}:${v4.readUInt16BE(14).toString(16)}`;
  }
  const [head, tail] = s.includes('::') ? s.split('::') : [s, undefined];
  const hs = head ? head.split(':') : [];
  const ts = tail ? tail.split(':') : [];
  const groups = tail === undefined ? hs : [...hs, ...Array(8 - hs.length - ts.length).fill('0'), ...ts];
  groups.forEach((g, i) => b.writeUInt16BE(parseInt(g, 16), i * 2));
  return b;
}

/** True for an IPv4 address, or an IPv6 one of the form ::ffff:a.b.c.d. */
function isV4Mapped(a: Buffer): boolean {
  return a.readUInt32BE(0) === 0 && a.readUInt32BE(4) === 0 && a.readUInt32BE(8) === 0xffff;
}

/**
 * The MAC message (docs/wire-format.md): little-endian 64-bit words. 32 bytes when both
 * addresses are IPv4 (v4-mapped), else 56; byte 9 says which (4 or 6).
 */
export function claimMessage(o: Pick<ClaimOption, 'identity' | 'node' | 'epoch'> & { version?: number }, c: ClaimConn): Buffer {
  const src = addrBytes(c.saddr);
  const dst = addrBytes(c.daddr);
  const v4 = isV4Mapped(src) && isV4Mapped(dst);
  const m = Buffer.alloc(v4 ? CLAIM_MAC_BYTES_V4 : CLAIM_MAC_BYTES);
  m.writeUInt8(o.version ?? CLAIM_VERSION, 0);
  m.writeUInt8(c.synack ? 1 : 0, 1);
  m.writeUInt16LE(o.node, 2);
  m.writeUInt32LE(o.identity >>> 0, 4);
  m.writeUInt8(o.epoch, 8);
  m.writeUInt8(v4 ? 4 : 6, 9);
  m.writeUInt16LE(c.sport, 10);
  m.writeUInt16LE(c.dport, 12);
  m.writeUInt32LE(c.isn >>> 0, 16);
  m.writeUInt32LE(c.peerIsn >>> 0, 20);
  if (v4) {
    src.copy(m, 24, 12);
    dst.copy(m, 28, 12);
  } else {
    src.copy(m, 24);
    dst.copy(m, 40);
  }
  return m;
}

export function claimMac(key: Buffer, o: Pick<ClaimOption, 'identity' | 'node' | 'epoch'> & { version?: number }, c: ClaimConn): bigint {
  return siphash24(key, claimMessage(o, c));
}

/** The 20 option bytes as they appear in the TCP header. */
export function encodeClaimOption(o: ClaimOption): Buffer {
  const b = Buffer.alloc(CLAIM_OPT_LEN);
  b[0] = CLAIM_TCPOPT_EXP;
  b[1] = CLAIM_OPT_LEN;
  b.writeUInt16BE(CLAIM_EXID, 2);
  b[4] = o.version;
  b[5] = o.epoch;
  b.writeUInt16BE(o.node, 6);
  b.writeUInt32BE(o.identity >>> 0, 8);
  b.writeBigUInt64LE(o.mac, 12);
  return b;
}

/**
 * Find the claim in a TCP option block (the bytes after the fixed 20-byte header). Returns
 * undefined when there is none; throws on a claim whose length is wrong.
 */
export function findClaimOption(opts: Buffer): ClaimOption | undefined {
  let off = 0;
  while (off < opts.length) {
    const kind = opts[off]!;
    if (kind === 0) break;
    if (kind === 1) {
      off++;
      continue;
    }
    if (off + 2 > opts.length) break;
    const len = opts[off + 1]!;
    if (kind === CLAIM_TCPOPT_EXP && off + 4 <= opts.length && opts.readUInt16BE(off + 2) === CLAIM_EXID) {
      if (len !== CLAIM_OPT_LEN || off + len > opts.length) throw new RangeError(`Cannot parse a claim option of length ${len}`);
      return {
        version: opts[off + 4]!,
        epoch: opts[off + 5]!,
        node: opts.readUInt16BE(off + 6),
        identity: opts.readUInt32BE(off + 8),
        mac: opts.readBigUInt64LE(off + 12),
      };
    }
    if (len < 2) break;
    off += len;
  }
  return undefined;
}
