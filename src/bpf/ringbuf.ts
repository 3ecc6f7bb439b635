/**
 * Consumer for BPF_MAP_TYPE_RINGBUF maps that never blocks the Node event loop.
 *
 * How: libbpf's ring_buffer exposes an epoll fd that is readable whenever records are pending.
 * libuv watches that fd (a poll handle, through koffi.node.poll) and, on readiness, the main
 * thread calls the non-blocking `ring_buffer__consume`, which runs `onRecord` synchronously for
 * every pending record. No worker thread and no cross-thread callback are involved.
 *
 * Latency bound: a record is delivered on the first event-loop turn after the kernel's wakeup.
 * Producers that submit with BPF_RB_NO_WAKEUP are only seen at the next wakeup or at the
 * safety-net drain (every SAFETY_DRAIN_MS = 250 ms), which also covers an fd watch that could
 * not be created.
 *
 * stop() drains what is pending, removes the watcher and frees the consumer. By default a
 * running RingBuffer does not keep the process alive (watcher and timer are unref'd, so a
 * forgotten stop() cannot hang a process at exit); pass `keepAlive: true` when the ring buffer
 * is the only thing a process waits on (e.g. a follow-the-log command).
 */
import * as L from './libbpf.js';
import type { BpfMap } from './map.js';
import { MapType } from './map.js';
import { DifwError } from '../errors.js';
import { logger, type Logger } from '../log.js';

const SAFETY_DRAIN_MS = 250;

export class RingBuffer {
  readonly map: BpfMap;
  #onRecord: (rec: Buffer) => void;
  #log: Logger;
  #rb: L.RingConsumer | null = null;
  #watch: L.FdWatch | null = null;
  #timer: NodeJS.Timeout | null = null;
  #delivered = 0;

  #keepAlive: boolean;

  constructor(map: BpfMap, onRecord: (rec: Buffer) => void, opts: { logger?: Logger; keepAlive?: boolean } = {}) {
    this.#keepAlive = opts.keepAlive ?? false;
    if (map.type !== MapType.RINGBUF) throw new DifwError('DIFW_E_BPF_MAP', `Cannot consume BPF map ${map.name} as a ring buffer: its type is ${map.type}`);
    this.map = map;
    this.#onRecord = onRecord;
    this.#log = opts.logger ?? logger('ringbuf');
  }

  get running(): boolean {
    return this.#rb !== null;
  }

  /** Records delivered so far. */
  get delivered(): number {
    return this.#delivered;
  }

  start(): void {
    if (this.#rb) return;
    this.#rb = L.ringBufferNew(this.map.fd, (rec) => {
      this.#delivered++;
      try {
        this.#onRecord(rec);
      } catch (e) {
        this.#log.error({ err: e, map: this.map.name }, 'ring buffer record handler failed');
      }
    });
    try {
      this.#watch = L.watchReadable(this.#rb.epollFd, () => this.consume(), this.#keepAlive);
    } catch (e) {
      this.#log.warn({ err: e, map: this.map.name }, 'cannot watch ring buffer fd; falling back to periodic drain');
    }
    this.#timer = setInterval(() => this.consume(), SAFETY_DRAIN_MS);
    if (!this.#keepAlive) this.#timer.unref();
    this.consume();
  }

  /** Deliver every pending record now (synchronously); returns how many. */
  consume(): number {
    if (!this.#rb) return 0;
    try {
      return this.#rb.consume();
    } catch (e) {
      this.#log.error({ err: e, map: this.map.name }, 'ring buffer consume failed');
      return 0;
    }
  }

  stop(): void {
    if (!this.#rb) return;
    this.consume();
    this.#watch?.stop();
    this.#watch = null;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    this.#rb.free();
    this.#rb = null;
  }
}
