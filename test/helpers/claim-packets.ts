/**
 * Builds Ethernet/IPv4|IPv6/TCP SYN and SYN-ACK frames with an arbitrary TCP option block, for
 * BPF_PROG_TEST_RUN tables of the claim verifier. Checksums are not filled: claim_verify does
 * not look at them.
 */
import { isIPv4 } from 'node:net';
import { addrBytes } from '../../src/identity/wire.js';

export interface TcpFrame {
  saddr: string;
  daddr: string;
  sport: number;
  dport: number;
  seq: number;
  ack?: number;
  /** TCP flags byte; default SYN (0x02). SYN-ACK is 0x12. */
  flags?: number;
  /** Raw option bytes, padded with EOL (0) to a multiple of 4. */
  options?: Buffer;
  /** Override the data offset (in 32-bit words) to build inconsistent headers. */
  doff?: number;
  /** Drop this many bytes from the end of the frame (a cut packet). */
  cut?: number;
}

export const SYN = 0x02;
export const SYNACK = 0x12;

/** Linux's usual SYN options: MSS 1460, SACK-permitted + timestamps, NOP + window scale 7. */
export function linuxSynOptions(tsval = 1): Buffer {
  const b = Buffer.from('020405b4' + '0402080a' + '00000000' + '00000000' + '01030307', 'hex');
  b.writeUInt32BE(tsval >>> 0, 8);
  return b;
}

export function tcpFrame(f: TcpFrame): Buffer {
  const v4 = isIPv4(f.saddr);
  let opts = f.options ?? Buffer.alloc(0);
  if (opts.length % 4) opts = Buffer.concat([opts, Buffer.alloc(4 - (opts.length % 4))]);
  const tcp = Buffer.alloc(20 + opts.length);
  tcp.writeUInt16BE(f.sport, 0);
  tcp.writeUInt16BE(f.dport, 2);
  tcp.writeUInt32BE(f.seq >>> 0, 4);
  tcp.writeUInt32BE((f.ack ?? 0) >>> 0, 8);
  tcp[12] = (f.doff ?? tcp.length / 4) << 4;
  tcp[13] = f.flags ?? SYN;
  tcp.writeUInt16BE(64240, 14);
  opts.copy(tcp, 20);
  const eth = Buffer.alloc(14);
  eth.set([0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1]);
  let ip: Buffer;
  if (v4) {
    eth.writeUInt16BE(0x0800, 12);
    ip = Buffer.alloc(20);
    ip[0] = 0x45;
    ip.writeUInt16BE(20 + tcp.length, 2);
    ip[8] = 64;
    ip[9] = 6;
    addrBytes(f.saddr).copy(ip, 12, 12);
    addrBytes(f.daddr).copy(ip, 16, 12);
  } else {
    eth.writeUInt16BE(0x86dd, 12);
    ip = Buffer.alloc(40);
    ip[0] = 0x60;
    ip.writeUInt16BE(tcp.length, 4);
    ip[6] = 6;
    ip[7] = 64;
    addrBytes(f.saddr).copy(ip, 8);
    addrBytes(f.daddr).copy(ip, 24);
  }
  const frame = Buffer.concat([eth, ip, tcp]);
  return f.cut ? frame.subarray(0, frame.length - f.cut) : frame;
}

/** One frame of a classic pcap file (tcpdump -w, link type Ethernet). */
export interface PcapFrame {
  tsSec: number;
  data: Buffer;
}

/** Read a classic little- or big-endian microsecond/nanosecond pcap file. */
export function readPcap(buf: Buffer): { linktype: number; frames: PcapFrame[] } {
  const magic = buf.readUInt32LE(0);
  const le = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d;
  if (!le && buf.readUInt32BE(0) !== 0xa1b2c3d4 && buf.readUInt32BE(0) !== 0xa1b23c4d) throw new Error('Cannot read pcap: bad magic');
  const r32 = (o: number) => (le ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
  const linktype = r32(20);
  const frames: PcapFrame[] = [];
  let off = 24;
  while (off + 16 <= buf.length) {
    const incl = r32(off + 8);
    frames.push({ tsSec: r32(off), data: buf.subarray(off + 16, off + 16 + incl) });
    off += 16 + incl;
  }
  return { linktype, frames };
}

export interface ParsedTcp {
  saddr: string;
  daddr: string;
  sport: number;
  dport: number;
  seq: number;
  ack: number;
  flags: number;
  options: Buffer;
}

const v4str = (b: Buffer) => [...b].join('.');
const v6str = (b: Buffer) => Array.from({ length: 8 }, (_, i) => b.readUInt16BE(i * 2).toString(16)).join(':');

/** Parse an Ethernet (or Linux cooked v1) frame carrying IPv4/IPv6 + TCP; undefined otherwise. */
export function parseTcpFrame(frame: Buffer, linktype = 1): ParsedTcp | undefined {
  let l3: number;
  let proto: number;
  if (linktype === 1) {
    proto = frame.readUInt16BE(12);
    l3 = 14;
  } else if (linktype === 113) {
    proto = frame.readUInt16BE(14);
    l3 = 16;
  } else return undefined;
  let saddr: string;
  let daddr: string;
  let l4: number;
  if (proto === 0x0800) {
    if (frame[l3 + 9] !== 6) return undefined;
    saddr = v4str(frame.subarray(l3 + 12, l3 + 16));
    daddr = v4str(frame.subarray(l3 + 16, l3 + 20));
    l4 = l3 + (frame[l3]! & 0xf) * 4;
  } else if (proto === 0x86dd) {
    if (frame[l3 + 6] !== 6) return undefined;
    saddr = v6str(frame.subarray(l3 + 8, l3 + 24));
    daddr = v6str(frame.subarray(l3 + 24, l3 + 40));
    l4 = l3 + 40;
  } else return undefined;
  const doff = (frame[l4 + 12]! >> 4) * 4;
  return {
    saddr,
    daddr,
    sport: frame.readUInt16BE(l4),
    dport: frame.readUInt16BE(l4 + 2),
    seq: frame.readUInt32BE(l4 + 4),
    ack: frame.readUInt32BE(l4 + 8),
    flags: frame[l4 + 13]!,
    options: frame.subarray(l4 + 20, l4 + doff),
  };
}
