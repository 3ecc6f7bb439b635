/**
 * Builds Ethernet/IPv4|IPv6/TCP SYN and SYN-ACK frames with an arbitrary TCP option block, for
 * BPF_PROG_TEST_RUN tables of the claim verifier. Checksums are not filled: claim_verify does
 * not look at them.
 */
import { isIPv4 } from 'node:net';
import { addrBytes } from './wire.js';

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

