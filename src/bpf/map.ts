/**
 * BPF maps: raw Buffer access (`BpfMap`) and codec-typed access (`TypedMap`).
 *
 * A map either belongs to a `BpfObject` (its fd is owned and closed by the object: keep the
 * object open while the map is used) or was opened from a pin with `BpfMap.openPinned` (the map
 * owns its fd; `close()` releases it). Using a map after its fd was released throws instead of
 * touching whatever file the fd number now refers to.
 *
 * Per-CPU maps (PERCPU_HASH/ARRAY, LRU_PERCPU_HASH, PERCPU_CGROUP_STORAGE): the kernel reads and
 * writes one value slot per possible CPU, each rounded up to 8 bytes. `lookup`/`entries` return
 * that whole blob (`valueBlobSize` bytes), `lookupPerCpu` splits it, and `update` accepts either
 * the blob or a single `valueSize` value that is then written to every CPU.
 */
import * as L from './libbpf.js';
import { DifwError } from '../errors.js';
import type { Codec } from './codec.js';

export type UpdateFlag = 'any' | 'noexist' | 'exist';
const FLAG: Record<UpdateFlag, number> = { any: L.BPF_ANY, noexist: L.BPF_NOEXIST, exist: L.BPF_EXIST };

/** enum bpf_map_type values used by difw (uapi numbering). */
export const MapType = {
  HASH: 1,
  ARRAY: 2,
  PROG_ARRAY: 3,
  PERF_EVENT_ARRAY: 4,
  PERCPU_HASH: 5,
  PERCPU_ARRAY: 6,
  LRU_HASH: 9,
  LRU_PERCPU_HASH: 10,
  LPM_TRIE: 11,
  ARRAY_OF_MAPS: 12,
  HASH_OF_MAPS: 13,
  PERCPU_CGROUP_STORAGE: 21,
  RINGBUF: 27,
} as const;

const PERCPU_TYPES = new Set<number>([MapType.PERCPU_HASH, MapType.PERCPU_ARRAY, MapType.LRU_PERCPU_HASH, MapType.PERCPU_CGROUP_STORAGE]);
/** errnos meaning "this map type has no batch op": fall back to one syscall per entry. */
const BATCH_UNSUPPORTED = new Set([22 /* EINVAL */, 95 /* EOPNOTSUPP */, 524 /* ENOTSUPP */]);
const ENOENT = 2;

export interface MapSource {
  name: string;
  type: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  /** Returns the current fd (-1 before the owning object is loaded). */
  fd: () => number;
  /** Whether `close()` should close the fd (pinned opens) or leave it to the object. */
  ownsFd: boolean;
}

export class BpfMap {
  readonly name: string;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
  readonly type: number;
  readonly perCpu: boolean;
  /** Bytes the kernel reads/writes per value: valueSize, or roundup(valueSize, 8) * nCPUs for per-CPU maps. */
  readonly valueBlobSize: number;
  #fd = -1;
  #resolveFd: () => number;
  #ownsFd: boolean;
  #closed = false;
  #batchUnsupported = false;
  #lookupBatchUnsupported = false;

  /** @internal use BpfObject.map() or BpfMap.openPinned(). */
  constructor(src: MapSource) {
    this.name = src.name;
    this.type = src.type;
    this.keySize = src.keySize;
    this.valueSize = src.valueSize;
    this.maxEntries = src.maxEntries;
    this.#resolveFd = src.fd;
    this.#ownsFd = src.ownsFd;
    this.perCpu = PERCPU_TYPES.has(src.type);
    this.valueBlobSize = this.perCpu ? perCpuStride(src.valueSize) * L.numPossibleCpus() : src.valueSize;
  }

  /** Open a map pinned on a bpffs (bpf_obj_get); the returned map owns its fd. */
  static openPinned(path: string): BpfMap {
    const fd = L.objGet(path);
    try {
      const info = L.mapInfoByFd(fd);
      return new BpfMap({ name: info.name, type: info.type, keySize: info.keySize, valueSize: info.valueSize, maxEntries: info.maxEntries, fd: () => fd, ownsFd: true });
    } catch (e) {
      L.closeFd(fd);
      if (e instanceof DifwError && /not a map/.test(e.message)) throw new DifwError('DIFW_E_BPF_MAP', `Cannot open BPF map pinned at ${path}: it is not a map`, { cause: e });
      throw e;
    }
  }

  get fd(): number {
    if (this.#closed) throw new DifwError('DIFW_E_BPF_MAP', `Cannot use BPF map ${this.name}: it was closed`);
    if (this.#fd < 0) {
      this.#fd = this.#resolveFd();
      if (this.#fd < 0) throw new DifwError('DIFW_E_BPF_MAP', `Cannot use BPF map ${this.name}: its object is not loaded`);
    }
    return this.#fd;
  }

  #checkKey(key: Buffer): void {
    if (key.length !== this.keySize) throw new DifwError('DIFW_E_BPF_MAP', `Cannot use a ${key.length}-byte key with BPF map ${this.name} (key size ${this.keySize})`);
  }

  #valueFor(value: Buffer): Buffer {
    if (value.length === this.valueBlobSize) return value;
    if (this.perCpu && value.length === this.valueSize) return this.#replicate(value);
    throw new DifwError('DIFW_E_BPF_MAP', `Cannot use a ${value.length}-byte value with BPF map ${this.name} (value size ${this.valueBlobSize})`);
  }

  #replicate(value: Buffer): Buffer {
    const stride = perCpuStride(this.valueSize);
    const out = Buffer.alloc(this.valueBlobSize);
    for (let o = 0; o < out.length; o += stride) value.copy(out, o);
    return out;
  }

  /** Value for `key` (a fresh Buffer), or undefined when absent. */
  lookup(key: Buffer): Buffer | undefined {
    const out = Buffer.allocUnsafe(this.valueBlobSize);
    return this.lookupInto(key, out) ? out : undefined;
  }

  /** Allocation-free lookup: fills `out` (valueBlobSize bytes); false when absent. */
  lookupInto(key: Buffer, out: Buffer): boolean {
    this.#checkKey(key);
    if (out.length < this.valueBlobSize) throw new DifwError('DIFW_E_BPF_MAP', `Cannot look up BPF map ${this.name} into a ${out.length}-byte buffer (need ${this.valueBlobSize})`);
    return L.mapLookup(this.fd, key, out, this.name);
  }

  /** Per-CPU maps: one Buffer of `valueSize` bytes per possible CPU. */
  lookupPerCpu(key: Buffer): Buffer[] | undefined {
    if (!this.perCpu) throw new DifwError('DIFW_E_BPF_MAP', `Cannot read per-CPU values of BPF map ${this.name}: it is not a per-CPU map`);
    const blob = this.lookup(key);
    return blob && splitPerCpu(blob, this.valueSize);
  }

  update(key: Buffer, value: Buffer, flags: UpdateFlag = 'any'): void {
    this.#checkKey(key);
    const v = this.#valueFor(value);
    const r = L.mapUpdate(this.fd, key, v, FLAG[flags]);
    if (r < 0) throw new L.LibbpfError('DIFW_E_BPF_MAP', `update BPF map ${this.name}${flags === 'any' ? '' : ` (${flags})`}`, r);
  }

  /** true if the key existed. */
  delete(key: Buffer): boolean {
    this.#checkKey(key);
    return L.mapDelete(this.fd, key, this.name);
  }

  /** Keys in kernel iteration order. Deleting the current key while iterating is safe for hash maps. */
  *keys(): Generator<Buffer> {
    const fd = this.fd;
    let prev: Buffer | null = null;
    for (;;) {
      const next = Buffer.allocUnsafe(this.keySize);
      if (!L.mapNextKey(fd, prev, next, this.name)) return;
      yield next;
      prev = next;
    }
  }

  /** [key, value] pairs; a key deleted between listing and lookup is skipped. */
  *entries(): Generator<[Buffer, Buffer]> {
    for (const k of this.keys()) {
      const v = this.lookup(k);
      if (v) yield [k, v];
    }
  }

  /**
   * Every entry at once, read with bpf_map_lookup_batch in chunks (a few syscalls instead of
   * two per entry); falls back to `entries()` for map types without batch lookup. The result
   * is a snapshot only as far as the kernel's iteration is (concurrent updates may or may not
   * show).
   */
  dump(chunk = 4096): [Buffer, Buffer][] {
    const out: [Buffer, Buffer][] = [];
    if (this.#lookupBatchUnsupported) return [...this.entries()];
    const fd = this.fd;
    const ks = this.keySize;
    const vs = this.valueBlobSize;
    // The resume token is a bucket index (u32) for hash maps and a key for arrays.
    const tokA = Buffer.alloc(Math.max(ks, 8));
    const tokB = Buffer.alloc(Math.max(ks, 8));
    let inTok: Buffer | null = null;
    let outTok = tokA;
    let n = Math.max(1, Math.min(chunk, this.maxEntries || chunk));
    for (;;) {
      const kb = Buffer.allocUnsafe(n * ks);
      const vb = Buffer.allocUnsafe(n * vs);
      const r = L.mapLookupBatch(fd, inTok, outTok, kb, vb, n);
      if (r.err < 0 && r.err !== -ENOENT) {
        if (r.err === -28 /* ENOSPC: one hash bucket holds more than n entries */ && r.done === 0) {
          n *= 2;
          continue;
        }
        if (out.length === 0 && r.done === 0 && BATCH_UNSUPPORTED.has(-r.err)) {
          this.#lookupBatchUnsupported = true;
          return [...this.entries()];
        }
        throw new L.LibbpfError('DIFW_E_BPF_MAP', `batch-read BPF map ${this.name}`, r.err);
      }
      for (let i = 0; i < r.done; i++) out.push([kb.subarray(i * ks, (i + 1) * ks), vb.subarray(i * vs, (i + 1) * vs)]);
      if (r.err === -ENOENT) return out;
      inTok = outTok;
      outTok = outTok === tokA ? tokB : tokA;
    }
  }

  /** Insert or overwrite many entries: one bpf_map_update_batch syscall when the map type supports it. */
  updateBatch(keys: Buffer[], values: Buffer[]): void {
    if (keys.length !== values.length) throw new DifwError('DIFW_E_BPF_MAP', `Cannot batch-update BPF map ${this.name}: ${keys.length} keys but ${values.length} values`);
    const n = keys.length;
    if (n === 0) return;
    const kb = Buffer.allocUnsafe(n * this.keySize);
    const vb = Buffer.allocUnsafe(n * this.valueBlobSize);
    for (let i = 0; i < n; i++) {
      const k = keys[i]!;
      this.#checkKey(k);
      k.copy(kb, i * this.keySize);
      this.#valueFor(values[i]!).copy(vb, i * this.valueBlobSize);
    }
    this.updateBatchRaw(kb, vb, n);
  }

  /**
   * Batch update from packed buffers: `keys` holds n keys back to back, `values` n values of
   * `valueBlobSize` bytes. Falls back to one update per entry for map types without batch ops
   * (e.g. LPM tries), remembering that for the next call.
   */
  updateBatchRaw(keys: Buffer, values: Buffer, n: number): void {
    if (keys.length < n * this.keySize || values.length < n * this.valueBlobSize) throw new DifwError('DIFW_E_BPF_MAP', `Cannot batch-update BPF map ${this.name}: buffers too small for ${n} entries`);
    const fd = this.fd;
    let done = 0;
    if (!this.#batchUnsupported) {
      const r = L.mapUpdateBatch(fd, keys, values, n, L.BPF_ANY);
      if (r.err === 0) return;
      if (r.done === 0 && BATCH_UNSUPPORTED.has(-r.err)) this.#batchUnsupported = true;
      else throw new L.LibbpfError('DIFW_E_BPF_MAP', `batch-update BPF map ${this.name} (${r.done} of ${n} entries written)`, r.err);
      done = r.done;
    }
    const ks = this.keySize;
    const vs = this.valueBlobSize;
    for (let i = done; i < n; i++) {
      const r = L.mapUpdate(fd, keys.subarray(i * ks, (i + 1) * ks), values.subarray(i * vs, (i + 1) * vs), L.BPF_ANY);
      if (r < 0) throw new L.LibbpfError('DIFW_E_BPF_MAP', `update BPF map ${this.name} (${i} of ${n} entries written)`, r);
    }
  }

  /** Delete many keys; keys that are absent are ignored. */
  deleteBatch(keys: Buffer[]): void {
    const n = keys.length;
    if (n === 0) return;
    const kb = Buffer.allocUnsafe(n * this.keySize);
    for (let i = 0; i < n; i++) {
      this.#checkKey(keys[i]!);
      keys[i]!.copy(kb, i * this.keySize);
    }
    const fd = this.fd;
    const ks = this.keySize;
    let i = 0;
    if (!this.#batchUnsupported) {
      // The kernel stops at the first missing key (ENOENT): skip it and continue with the rest.
      while (i < n) {
        const r = L.mapDeleteBatch(fd, kb.subarray(i * ks), n - i);
        if (r.err === 0) return;
        if (r.err === -ENOENT) {
          i += r.done + 1;
          continue;
        }
        if (r.done === 0 && BATCH_UNSUPPORTED.has(-r.err)) {
          this.#batchUnsupported = true;
          break;
        }
        throw new L.LibbpfError('DIFW_E_BPF_MAP', `batch-delete from BPF map ${this.name}`, r.err);
      }
    }
    for (; i < n; i++) L.mapDelete(fd, kb.subarray(i * ks, (i + 1) * ks), this.name);
  }

  /** Delete every entry (arrays cannot be emptied: their entries are zeroed instead). */
  clear(): void {
    if (this.type === MapType.ARRAY || this.type === MapType.PERCPU_ARRAY) {
      const zero = Buffer.alloc(this.valueBlobSize);
      for (const k of this.keys()) this.update(k, zero);
      return;
    }
    this.deleteBatch([...this.keys()]);
  }

  /** Pin this map on a bpffs at `path`. */
  pin(path: string): void {
    L.objPin(this.fd, path);
  }

  /** Release this handle: closes the fd of a pinned open; object maps stay open until the object closes. */
  close(): void {
    if (this.#closed) return;
    if (this.#ownsFd && this.#fd >= 0) L.closeFd(this.#fd);
    this.#closed = true;
  }

  /** @internal the owning object closed its fds. */
  markClosed(): void {
    this.#closed = true;
  }
}

export function perCpuStride(valueSize: number): number {
  return Math.ceil(valueSize / 8) * 8;
}

/** Split a per-CPU blob into one `valueSize` Buffer per CPU. */
export function splitPerCpu(blob: Buffer, valueSize: number): Buffer[] {
  const stride = perCpuStride(valueSize);
  const out: Buffer[] = [];
  for (let o = 0; o + stride <= blob.length; o += stride) out.push(Buffer.from(blob.subarray(o, o + valueSize)));
  return out;
}

/**
 * A map seen through codecs. Sizes are checked once here so a drifting C struct fails loudly
 * instead of corrupting entries. Key/value scratch buffers are reused: every method is
 * synchronous, so no two calls share them concurrently.
 */
export class TypedMap<K, V> {
  readonly map: BpfMap;
  readonly key: Codec<K>;
  readonly value: Codec<V>;
  #k: Buffer;
  #v: Buffer;
  #out: Buffer;

  constructor(map: BpfMap, key: Codec<K>, value: Codec<V>) {
    if (key.size !== map.keySize) throw new DifwError('DIFW_E_BPF_MAP', `Cannot type BPF map ${map.name}: key codec is ${key.size} bytes, map key is ${map.keySize}`);
    if (value.size !== map.valueSize) throw new DifwError('DIFW_E_BPF_MAP', `Cannot type BPF map ${map.name}: value codec is ${value.size} bytes, map value is ${map.valueSize}`);
    this.map = map;
    this.key = key;
    this.value = value;
    this.#k = Buffer.alloc(key.size);
    this.#v = Buffer.alloc(value.size);
    this.#out = Buffer.alloc(map.valueBlobSize);
  }

  #encodeKey(k: K): Buffer {
    this.#k.fill(0);
    this.key.write(this.#k, 0, k);
    return this.#k;
  }

  get(k: K): V | undefined {
    if (!this.map.lookupInto(this.#encodeKey(k), this.#out)) return undefined;
    return this.value.read(this.#out, 0); // per-CPU maps: CPU 0's value (use getPerCpu for all)
  }

  getPerCpu(k: K): V[] | undefined {
    const vals = this.map.lookupPerCpu(this.#encodeKey(k));
    return vals?.map((b) => this.value.read(b, 0));
  }

  set(k: K, v: V, flags: UpdateFlag = 'any'): void {
    this.#v.fill(0);
    this.value.write(this.#v, 0, v);
    this.map.update(this.#encodeKey(k), this.#v, flags);
  }

  delete(k: K): boolean {
    return this.map.delete(this.#encodeKey(k));
  }

  *keys(): Generator<K> {
    for (const k of this.map.keys()) yield this.key.read(k, 0);
  }

  *entries(): Generator<[K, V]> {
    for (const [k, v] of this.map.entries()) yield [this.key.read(k, 0), this.value.read(v, 0)];
  }

  /** All entries decoded, read in batches (see BpfMap.dump). Per-CPU maps: CPU 0's value. */
  dump(): [K, V][] {
    return this.map.dump().map(([k, v]) => [this.key.read(k, 0), this.value.read(v, 0)]);
  }

  /** Encode everything into two packed buffers and write them with one batch syscall. */
  setMany(entries: Iterable<readonly [K, V]>): void {
    const list = Array.isArray(entries) ? (entries as readonly (readonly [K, V])[]) : [...entries];
    const n = list.length;
    if (n === 0) return;
    const ks = this.key.size;
    const vs = this.map.valueBlobSize;
    const kb = Buffer.alloc(n * ks);
    const vb = Buffer.alloc(n * vs);
    const stride = perCpuStride(this.value.size);
    for (let i = 0; i < n; i++) {
      const [k, v] = list[i]!;
      this.key.write(kb, i * ks, k);
      if (this.map.perCpu) {
        for (let o = 0; o < vs; o += stride) this.value.write(vb, i * vs + o, v);
      } else {
        this.value.write(vb, i * vs, v);
      }
    }
    this.map.updateBatchRaw(kb, vb, n);
  }

  deleteMany(keys: Iterable<K>): void {
    this.map.deleteBatch([...keys].map((k) => Buffer.from(this.#encodeKey(k))));
  }
}
