/**
 * The agent's event log: datapath events (denied, rejected, limited packets) become lines in
 * ufw's kernel-log format, appended to the namespace's event log, which `difw log` reads.
 *
 *   2026-11-23T17:00:00.000Z [UFW BLOCK] IN=dfw0 OUT= SRC=198.18.0.2 DST=198.18.0.1 LEN=60 PROTO=TCP SPT=40000 DPT=80
 */
import type { DatapathEvent } from '../datapath/loader.js';
import { appendFileSync, closeSync, existsSync, openSync, readSync, statSync, watch } from 'node:fs';

/** A datapath event with interface names resolved (the agent knows the names). */
export type PacketEvent = Omit<DatapathEvent, 'inIfindex' | 'outIfindex'> & { inIf: string; outIf: string };

export function formatEvent(e: PacketEvent, at = new Date()): string {
  const ports = e.sport !== undefined && e.dport !== undefined ? ` SPT=${e.sport} DPT=${e.dport}` : '';
  const extra = e.extra ? ` ${e.extra}` : '';
  return `${at.toISOString()} [UFW ${e.tag}] IN=${e.inIf} OUT=${e.outIf} SRC=${e.src} DST=${e.dst} LEN=${e.len} PROTO=${e.proto}${ports}${extra}`;
}

export class EventLog {
  constructor(private readonly path: string) {}
  append(lines: string[]): void {
    if (lines.length) appendFileSync(this.path, lines.join('\n') + '\n', { mode: 0o600 });
  }
}

/**
 * Print the log and, with `follow`, keep printing what is appended (like `tail -f`), until the
 * returned promise's owner calls `stop()` or the process ends.
 */
export function readEventLog(path: string, out: (chunk: string) => void, follow: boolean): { done: Promise<void>; stop: () => void } {
  let pos = 0;
  const drain = () => {
    if (!existsSync(path)) return;
    const size = statSync(path).size;
    if (size < pos) pos = 0; // truncated or replaced: start over
    if (size === pos) return;
    const fd = openSync(path, 'r');
    try {
      const buf = Buffer.alloc(size - pos);
      readSync(fd, buf, 0, buf.length, pos);
      pos = size;
      out(buf.toString('utf8'));
    } finally {
      closeSync(fd);
    }
  };
  drain();
  if (!follow) return { done: Promise.resolve(), stop: () => {} };
  let stop!: () => void;
  const done = new Promise<void>((resolve) => {
    // fs.watch misses events on some filesystems; a slow poll backs it up.
    const poll = setInterval(drain, 500);
    let w: ReturnType<typeof watch> | undefined;
    try {
      w = watch(path, drain);
    } catch {
      /* the file may not exist yet: the poll covers it */
    }
    stop = () => {
      clearInterval(poll);
      w?.close();
      resolve();
    };
  });
  return { done, stop };
}
