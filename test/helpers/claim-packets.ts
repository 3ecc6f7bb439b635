/**
 * Test packet helpers for the claim tests. The frame builder lives in src/identity/frames.ts
 * (the bench uses it too); pcap reading and parsing are here.
 */
export { tcpFrame, linuxSynOptions, SYN, SYNACK, type TcpFrame } from '../../src/identity/frames.js';

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
