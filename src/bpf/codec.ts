/**
 * Binary codecs for BPF map keys and values.
 *
 * A `StructCodec` mirrors one C struct from `bpf/maps/*.h`: the field order, sizes and the
 * natural C alignment are computed here exactly as clang lays the struct out for BPF and as gcc
 * lays it out for x86_64 (both LP64, same rules). `test/unit/layout.test.ts` compiles the C
 * headers and checks every size and offset against these definitions, so a drifting header
 * fails the build instead of corrupting a map.
 *
 * Multi-byte integers are host order (little endian) unless the field says `be`: addresses and
 * ports that the datapath compares against packet bytes stay in network order.
 */

export interface Codec<T> {
  readonly size: number;
  readonly align: number;
  write(buf: Buffer, off: number, v: T): void;
  read(buf: Buffer, off: number): T;
}

function scalar<T>(size: number, write: (b: Buffer, o: number, v: T) => void, read: (b: Buffer, o: number) => T): Codec<T> {
  return { size, align: size, write, read };
}

export const u8 = scalar<number>(1, (b, o, v) => void b.writeUInt8(v, o), (b, o) => b.readUInt8(o));
export const u16 = scalar<number>(2, (b, o, v) => void b.writeUInt16LE(v, o), (b, o) => b.readUInt16LE(o));
export const u32 = scalar<number>(4, (b, o, v) => void b.writeUInt32LE(v >>> 0, o), (b, o) => b.readUInt32LE(o));
export const u64 = scalar<bigint>(8, (b, o, v) => void b.writeBigUInt64LE(v, o), (b, o) => b.readBigUInt64LE(o));
export const s32 = scalar<number>(4, (b, o, v) => void b.writeInt32LE(v, o), (b, o) => b.readInt32LE(o));
/** Network byte order (big endian) 16-bit value, e.g. a port as it appears on the wire. */
export const be16 = scalar<number>(2, (b, o, v) => void b.writeUInt16BE(v, o), (b, o) => b.readUInt16BE(o));
/** Network byte order (big endian) 32-bit value. */
export const be32 = scalar<number>(4, (b, o, v) => void b.writeUInt32BE(v >>> 0, o), (b, o) => b.readUInt32BE(o));

/** A fixed-size byte array (`__u8 name[n]`). Reads return a copy. */
export function bytes(n: number): Codec<Buffer> {
  return {
    size: n,
    align: 1,
    write(b, o, v) {
      if (v.length > n) throw new RangeError(`Cannot encode ${v.length} bytes into a ${n}-byte field`);
      b.fill(0, o, o + n);
      v.copy(b, o);
    },
    read: (b, o) => Buffer.from(b.subarray(o, o + n)),
  };
}

/** A fixed-size array of another codec (`T name[n]`). */
export function array<T>(c: Codec<T>, n: number): Codec<T[]> {
  return {
    size: c.size * n,
    align: c.align,
    write(b, o, v) {
      if (v.length > n) throw new RangeError(`Cannot encode ${v.length} elements into an array of ${n}`);
      for (let i = 0; i < n; i++) {
        const e = v[i];
        if (e === undefined) b.fill(0, o + i * c.size, o + (i + 1) * c.size);
        else c.write(b, o + i * c.size, e);
      }
    },
    read: (b, o) => Array.from({ length: n }, (_, i) => c.read(b, o + i * c.size)),
  };
}

type FieldSpec = readonly [name: string, codec: Codec<any>];
type Shape<F extends readonly FieldSpec[]> = { [K in F[number] as K[0]]: K[1] extends Codec<infer T> ? T : never };

export interface StructCodec<T> extends Codec<T> {
  /** The C struct name (without `struct`) this codec mirrors. */
  readonly cName: string;
  /** Byte offset of each field, by C field name. */
  readonly offsets: Readonly<Record<string, number>>;
  /** Encode into a fresh zeroed buffer (padding is always zero, so keys hash consistently). */
  encode(v: T): Buffer;
  decode(buf: Buffer): T;
}

const alignUp = (n: number, a: number) => Math.ceil(n / a) * a;

/** Define a codec for `struct cName { fields... }` with natural C alignment. */
export function struct<const F extends readonly FieldSpec[]>(cName: string, fields: F): StructCodec<Shape<F>> {
  const offsets: Record<string, number> = {};
  let off = 0;
  let align = 1;
  for (const [name, c] of fields) {
    off = alignUp(off, c.align);
    offsets[name] = off;
    off += c.size;
    align = Math.max(align, c.align);
  }
  const size = alignUp(off, align);
  const codec: StructCodec<Shape<F>> = {
    cName,
    size,
    align,
    offsets,
    write(b, o, v) {
      b.fill(0, o, o + size);
      for (const [name, c] of fields) {
        const fv = (v as Record<string, unknown>)[name];
        if (fv === undefined) continue; // left zero
        c.write(b, o + offsets[name]!, fv);
      }
    },
    read(b, o) {
      const out: Record<string, unknown> = {};
      for (const [name, c] of fields) out[name] = c.read(b, o + offsets[name]!);
      return out as Shape<F>;
    },
    encode(v) {
      const b = Buffer.alloc(size);
      codec.write(b, 0, v);
      return b;
    },
    decode(buf) {
      if (buf.length < size) throw new RangeError(`Cannot decode struct ${cName}: ${buf.length} bytes, need ${size}`);
      return codec.read(buf, 0);
    },
  };
  return codec;
}

/** Codec type helper: `type CtKey = Decoded<typeof ctKey>`. */
export type Decoded<C> = C extends Codec<infer T> ? T : never;
