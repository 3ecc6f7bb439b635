/**
 * Packet builders for datapath tests: Ethernet, IPv4 (with options, fragments), IPv6 (with
 * extension headers and fragments), TCP, UDP, ICMP and ICMPv6, all with correct lengths and
 * checksums unless a test breaks them on purpose; plus a small parser and checksum verifier for
 * the frames a program writes back (reject replies).
 */
import { isIPv4 } from 'node:net';
import { parseAddr } from '../../src/policy/netpol/cidr.js';

export const MAC_A = Buffer.from('02000000000a', 'hex');
export const MAC_B = Buffer.from('02000000000b', 'hex');

export const TCP = { FIN: 0x01, SYN: 0x02, RST: 0x04, PSH: 0x08, ACK: 0x10, URG: 0x20 } as const;

export function addrBytes(a: string): Buffer {
  const p = parseAddr(a);
  if (!p) throw new Error(`bad address ${a}`);
  const w = p.v4 ? 4 : 16;
  const b = Buffer.alloc(w);
  for (let i = 0; i < w; i++) b[i] = Number((p.addr >> BigInt(8 * (w - 1 - i))) & 0xffn);
  return b;
}

export const familyOf = (a: string): 4 | 6 => (isIPv4(a) ? 4 : 6);

/** Internet checksum (ones' complement of the ones' complement sum). */
export function checksum(...parts: Buffer[]): number {
  let sum = 0;
  const all = Buffer.concat(parts);
  for (let i = 0; i + 1 < all.length; i += 2) sum += all.readUInt16BE(i);
  if (all.length % 2) sum += all[all.length - 1]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

function pseudo(src: Buffer, dst: Buffer, proto: number, len: number): Buffer {
  if (src.length === 4) {
    const p = Buffer.alloc(12);
    src.copy(p, 0);
    dst.copy(p, 4);
    p[9] = proto;
    p.writeUInt16BE(len, 10);
    return p;
  }
  const p = Buffer.alloc(40);
  src.copy(p, 0);
  dst.copy(p, 16);
  p.writeUInt32BE(len, 32);
  p[39] = proto;
  return p;
}

export function ether(payload: Buffer, ethertype: number, src = MAC_A, dst = MAC_B): Buffer {
  const h = Buffer.alloc(14);
  dst.copy(h, 0);
  src.copy(h, 6);
  h.writeUInt16BE(ethertype, 12);
  return Buffer.concat([h, payload]);
}

export interface Ip4Opts {
  src: string;
  dst: string;
  proto: number;
  payload: Buffer;
  ttl?: number;
  id?: number;
  /** Fragment offset in 8-byte units and the MF flag. */
  fragOffset?: number;
  mf?: boolean;
  df?: boolean;
  options?: Buffer; // multiple of 4 bytes
}

export function ipv4(o: Ip4Opts): Buffer {
  const opt = o.options ?? Buffer.alloc(0);
  const hl = 20 + opt.length;
  const h = Buffer.alloc(hl);
  h[0] = 0x40 | (hl / 4);
  h.writeUInt16BE(hl + o.payload.length, 2);
  h.writeUInt16BE(o.id ?? 0x1234, 4);
  h.writeUInt16BE(((o.mf ? 0x2000 : 0) | (o.df ? 0x4000 : 0) | (o.fragOffset ?? 0)) & 0xffff, 6);
  h[8] = o.ttl ?? 64;
  h[9] = o.proto;
  addrBytes(o.src).copy(h, 12);
  addrBytes(o.dst).copy(h, 16);
  opt.copy(h, 20);
  h.writeUInt16BE(checksum(h), 10);
  return Buffer.concat([h, o.payload]);
}

export type Ext6 =
  | { type: 'hop' | 'dst'; len?: number }
  | { type: 'routing'; routingType: number; segmentsLeft?: number }
  | { type: 'frag'; offset: number; more: boolean; id: number };

const EXT_NH = { hop: 0, routing: 43, frag: 44, dst: 60 } as const;

export interface Ip6Opts {
  src: string;
  dst: string;
  next: number;
  payload: Buffer;
  hopLimit?: number;
  ext?: Ext6[];
}

export function ipv6(o: Ip6Opts): Buffer {
  const ext = o.ext ?? [];
  const parts: Buffer[] = [];
  ext.forEach((e, i) => {
    const next = i + 1 < ext.length ? EXT_NH[ext[i + 1]!.type] : o.next;
    let b: Buffer;
    if (e.type === 'frag') {
      b = Buffer.alloc(8);
      b[0] = next;
      b.writeUInt16BE(((e.offset << 3) | (e.more ? 1 : 0)) & 0xffff, 2);
      b.writeUInt32BE(e.id, 4);
    } else if (e.type === 'routing') {
      b = Buffer.alloc(24); // one address
      b[0] = next;
      b[1] = 2;
      b[2] = e.routingType;
      b[3] = e.segmentsLeft ?? 1;
    } else {
      const len = e.len ?? 0;
      b = Buffer.alloc(8 * (len + 1));
      b[0] = next;
      b[1] = len;
      b[2] = 1; // PadN
      b[3] = b.length - 4;
    }
    parts.push(b);
  });
  const body = Buffer.concat([...parts, o.payload]);
  const h = Buffer.alloc(40);
  h.writeUInt32BE(0x60000000, 0);
  h.writeUInt16BE(body.length, 4);
  h[6] = ext.length ? EXT_NH[ext[0]!.type] : o.next;
  h[7] = o.hopLimit ?? 64;
  addrBytes(o.src).copy(h, 8);
  addrBytes(o.dst).copy(h, 24);
  return Buffer.concat([h, body]);
}

export interface TcpOpts {
  sport: number;
  dport: number;
  flags: number;
  seq?: number;
  ack?: number;
  payload?: Buffer;
  /** TCP options, multiple of 4 bytes. */
  options?: Buffer;
  window?: number;
}

export function tcpSegment(src: string, dst: string, o: TcpOpts): Buffer {
  const opt = o.options ?? Buffer.alloc(0);
  const h = Buffer.alloc(20 + opt.length);
  h.writeUInt16BE(o.sport, 0);
  h.writeUInt16BE(o.dport, 2);
  h.writeUInt32BE((o.seq ?? 1000) >>> 0, 4);
  h.writeUInt32BE((o.ack ?? 0) >>> 0, 8);
  h[12] = (h.length / 4) << 4;
  h[13] = o.flags;
  h.writeUInt16BE(o.window ?? 65535, 14);
  opt.copy(h, 20);
  const seg = Buffer.concat([h, o.payload ?? Buffer.alloc(0)]);
  seg.writeUInt16BE(checksum(pseudo(addrBytes(src), addrBytes(dst), 6, seg.length), seg), 16);
  return seg;
}

export function udpDatagram(src: string, dst: string, sport: number, dport: number, payload: Buffer = Buffer.alloc(4)): Buffer {
  const d = Buffer.alloc(8 + payload.length);
  d.writeUInt16BE(sport, 0);
  d.writeUInt16BE(dport, 2);
  d.writeUInt16BE(d.length, 4);
  payload.copy(d, 8);
  const c = checksum(pseudo(addrBytes(src), addrBytes(dst), 17, d.length), d);
  d.writeUInt16BE(c === 0 ? 0xffff : c, 6);
  return d;
}

/** ICMP (IPv4) or ICMPv6 message: type, code, 4 bytes of rest-of-header (id/seq), body. */
export function icmpMessage(family: 4 | 6, src: string, dst: string, type: number, code: number, rest: Buffer, body: Buffer = Buffer.alloc(0)): Buffer {
  const m = Buffer.concat([Buffer.from([type, code, 0, 0]), rest, body]);
  const c = family === 4 ? checksum(m) : checksum(pseudo(addrBytes(src), addrBytes(dst), 58, m.length), m);
  m.writeUInt16BE(c, 2);
  return m;
}

const idSeq = (id: number, seq: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt16BE(id, 0);
  b.writeUInt16BE(seq, 2);
  return b;
};

/** IP packet (no Ethernet) of the family of `src`. */
export function ipPacket(src: string, dst: string, proto: number, payload: Buffer, extra: Partial<Ip4Opts & Ip6Opts> = {}): Buffer {
  return familyOf(src) === 4 ? ipv4({ ...extra, src, dst, proto, payload }) : ipv6({ ...extra, src, dst, next: proto, payload });
}

export function frame(ip: Buffer): Buffer {
  return ether(ip, (ip[0]! >> 4) === 6 ? 0x86dd : 0x0800);
}

export function tcp(src: string, dst: string, o: TcpOpts, extra: Partial<Ip4Opts & Ip6Opts> = {}): Buffer {
  return frame(ipPacket(src, dst, 6, tcpSegment(src, dst, o), extra));
}

export function udp(src: string, dst: string, sport: number, dport: number, payload?: Buffer, extra: Partial<Ip4Opts & Ip6Opts> = {}): Buffer {
  return frame(ipPacket(src, dst, 17, udpDatagram(src, dst, sport, dport, payload), extra));
}

/** Echo request/reply (ICMP 8/0, ICMPv6 128/129). */
export function echo(src: string, dst: string, reply: boolean, id = 0x4242, seq = 1, extra: Partial<Ip4Opts & Ip6Opts> = {}): Buffer {
  const f = familyOf(src);
  const type = f === 4 ? (reply ? 0 : 8) : reply ? 129 : 128;
  return frame(ipPacket(src, dst, f === 4 ? 1 : 58, icmpMessage(f, src, dst, type, 0, idSeq(id, seq), Buffer.alloc(8, 0x61)), extra));
}

/** Any ICMP/ICMPv6 message. */
export function icmp(src: string, dst: string, type: number, code = 0, body: Buffer = Buffer.alloc(8), extra: Partial<Ip4Opts & Ip6Opts> = {}): Buffer {
  const f = familyOf(src);
  return frame(ipPacket(src, dst, f === 4 ? 1 : 58, icmpMessage(f, src, dst, type, code, Buffer.alloc(4), body), extra));
}

/** ICMP error (dest-unreach etc.) quoting `inner` (an IP packet), truncated to header + 8 like routers do. */
export function icmpError(src: string, dst: string, type: number, code: number, inner: Buffer): Buffer {
  const f = familyOf(src);
  const ihl = f === 4 ? (inner[0]! & 0xf) * 4 : 40;
  return icmp(src, dst, type, code, inner.subarray(0, ihl + 8));
}

/** Split an IPv4 packet (no Ethernet) into fragments of `size` payload bytes (multiple of 8). */
export function fragment4(ip: Buffer, size: number): Buffer[] {
  const ihl = (ip[0]! & 0xf) * 4;
  const payload = ip.subarray(ihl, ip.readUInt16BE(2));
  const out: Buffer[] = [];
  for (let off = 0; off < payload.length; off += size) {
    const part = payload.subarray(off, off + size);
    const h = Buffer.from(ip.subarray(0, ihl));
    h.writeUInt16BE(ihl + part.length, 2);
    const more = off + size < payload.length;
    h.writeUInt16BE((more ? 0x2000 : 0) | (off / 8), 6);
    h.writeUInt16BE(0, 10);
    h.writeUInt16BE(checksum(h), 10);
    out.push(Buffer.concat([h, part]));
  }
  return out;
}

/** Split the L4 payload of an IPv6 packet without extension headers into fragments. */
export function fragment6(ip: Buffer, size: number, id = 0xabcd): Buffer[] {
  const next = ip[6]!;
  const payload = ip.subarray(40);
  const src = ip.subarray(8, 24);
  const dst = ip.subarray(24, 40);
  const out: Buffer[] = [];
  for (let off = 0; off < payload.length; off += size) {
    const part = payload.subarray(off, off + size);
    const fh = Buffer.alloc(8);
    fh[0] = next;
    fh.writeUInt16BE(((off / 8) << 3) | (off + size < payload.length ? 1 : 0), 2);
    fh.writeUInt32BE(id, 4);
    const h = Buffer.from(ip.subarray(0, 40));
    h[6] = 44;
    h.writeUInt16BE(8 + part.length, 4);
    src.copy(h, 8);
    dst.copy(h, 24);
    out.push(Buffer.concat([h, fh, part]));
  }
  return out;
}

export const truncate = (b: Buffer, n: number) => Buffer.from(b.subarray(0, n));

// ---- parsing what programs emit ----

export interface Parsed {
  family: 4 | 6;
  src: string;
  dst: string;
  proto: number;
  ttl: number;
  l4: Buffer;
  ipHeader: Buffer;
  tcp?: { sport: number; dport: number; seq: number; ack: number; flags: number };
  icmp?: { type: number; code: number; quoted: Buffer };
  checksumsOk: boolean;
}

function fmt(b: Buffer): string {
  if (b.length === 4) return [...b].join('.');
  const g: string[] = [];
  for (let i = 0; i < 16; i += 2) g.push(b.readUInt16BE(i).toString(16));
  return g.join(':');
}

/** Parse an Ethernet frame carrying IPv4/IPv6 without extension headers and verify checksums. */
export function parseFrame(f: Buffer): Parsed {
  const et = f.readUInt16BE(12);
  const ip = f.subarray(14);
  let family: 4 | 6;
  let src: Buffer, dst: Buffer, proto: number, ttl: number, l4: Buffer, ipHeader: Buffer;
  let ok = true;
  if (et === 0x0800) {
    family = 4;
    const ihl = (ip[0]! & 0xf) * 4;
    ipHeader = ip.subarray(0, ihl);
    ok &&= checksum(ipHeader) === 0;
    const tot = ip.readUInt16BE(2);
    src = ip.subarray(12, 16);
    dst = ip.subarray(16, 20);
    proto = ip[9]!;
    ttl = ip[8]!;
    l4 = ip.subarray(ihl, tot);
  } else {
    family = 6;
    ipHeader = ip.subarray(0, 40);
    src = ip.subarray(8, 24);
    dst = ip.subarray(24, 40);
    proto = ip[6]!;
    ttl = ip[7]!;
    l4 = ip.subarray(40, 40 + ip.readUInt16BE(4));
  }
  const p: Parsed = { family, src: fmt(src), dst: fmt(dst), proto, ttl, l4, ipHeader, checksumsOk: true };
  if (proto === 6) {
    ok &&= checksum(pseudo(src, dst, 6, l4.length), l4) === 0;
    p.tcp = { sport: l4.readUInt16BE(0), dport: l4.readUInt16BE(2), seq: l4.readUInt32BE(4), ack: l4.readUInt32BE(8), flags: l4[13]! };
  } else if (proto === 1 || proto === 58) {
    ok &&= (proto === 1 ? checksum(l4) : checksum(pseudo(src, dst, 58, l4.length), l4)) === 0;
    p.icmp = { type: l4[0]!, code: l4[1]!, quoted: l4.subarray(8) };
  }
  p.checksumsOk = ok;
  return p;
}

/** Normalise an address string to the form parseFrame prints. */
export function canon(a: string): string {
  return fmt(addrBytes(a));
}
