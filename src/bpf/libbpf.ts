/**
 * The only file that talks to koffi. It binds the system libbpf 1.1.2 (`libbpf.so.1`) and a few
 * libc functions and exports plain functions over numbers, strings, Buffers and opaque handles,
 * so no koffi type or raw pointer escapes this module (handles are branded bigints that only
 * this module dereferences).
 *
 * Conventions of libbpf 1.x that this file relies on:
 *   - int-returning functions return 0/positive on success and -errno on failure;
 *   - pointer-returning functions return NULL and set errno on failure;
 *   - Buffers passed as `void *` go to C in place (no copy), so C writes land in the Buffer.
 * Option structs are declared with koffi.struct exactly as in /usr/include/bpf/{libbpf,bpf}.h of
 * 1.1.2; `checkLayouts()` below pins their sizes/offsets to what gcc computes for those headers
 * (numbers obtained from a small C program compiled against them), and runs at module load.
 *
 * Not available in 1.1: tcx links and `ring__*` accessors; neither is used.
 */
import koffi, { type TypeObject } from 'koffi';
import { readFileSync } from 'node:fs';
import { isMainThread } from 'node:worker_threads';
import { DifwError, type ErrorCode } from '../errors.js';
import { logger } from '../log.js';

declare const handleBrand: unique symbol;
/** Opaque libbpf object pointer (struct bpf_object/bpf_map/bpf_program/bpf_link/ring_buffer). */
export type Handle<Kind extends string> = bigint & { readonly [handleBrand]: Kind };
export type ObjHandle = Handle<'bpf_object'>;
export type MapHandle = Handle<'bpf_map'>;
export type ProgHandle = Handle<'bpf_program'>;
export type LinkHandle = Handle<'bpf_link'>;
export type RingHandle = Handle<'ring_buffer'>;

const lib = koffi.load('libbpf.so.1');
const libc = koffi.load('libc.so.6');

// ---------------------------------------------------------------------------------------------
// Option structs (libbpf 1.1.2 layouts)

const ObjectOpenOpts = koffi.struct('bpf_object_open_opts', {
  sz: 'size_t',
  object_name: 'const char *',
  relaxed_maps: 'bool',
  pin_root_path: 'const char *',
  _removed_attach_prog_fd: 'uint32_t',
  kconfig: 'const char *',
  btf_custom_path: 'const char *',
  kernel_log_buf: 'void *',
  kernel_log_size: 'size_t',
  kernel_log_level: 'uint32_t',
});

const XdpAttachOpts = koffi.struct('bpf_xdp_attach_opts', {
  sz: 'size_t',
  old_prog_fd: 'int',
});

const XdpQueryOpts = koffi.struct('bpf_xdp_query_opts', {
  sz: 'size_t',
  prog_id: 'uint32_t',
  drv_prog_id: 'uint32_t',
  hw_prog_id: 'uint32_t',
  skb_prog_id: 'uint32_t',
  attach_mode: 'uint8_t',
});

const TcHook = koffi.struct('bpf_tc_hook', {
  sz: 'size_t',
  ifindex: 'int',
  attach_point: 'int', // enum bpf_tc_attach_point
  parent: 'uint32_t',
});

const TcOpts = koffi.struct('bpf_tc_opts', {
  sz: 'size_t',
  prog_fd: 'int',
  flags: 'uint32_t',
  prog_id: 'uint32_t',
  handle: 'uint32_t',
  priority: 'uint32_t',
});

const TestRunOpts = koffi.struct('bpf_test_run_opts', {
  sz: 'size_t',
  data_in: 'void *',
  data_out: 'void *',
  data_size_in: 'uint32_t',
  data_size_out: 'uint32_t',
  ctx_in: 'void *',
  ctx_out: 'void *',
  ctx_size_in: 'uint32_t',
  ctx_size_out: 'uint32_t',
  retval: 'uint32_t',
  repeat: 'int',
  duration: 'uint32_t',
  flags: 'uint32_t',
  cpu: 'uint32_t',
  batch_size: 'uint32_t',
});

const MapBatchOpts = koffi.struct('bpf_map_batch_opts', {
  sz: 'size_t',
  elem_flags: 'uint64_t',
  flags: 'uint64_t',
});

/** Sizes and offsets as gcc computes them for the 1.1.2 headers (x86_64 / LP64). */
const EXPECTED_LAYOUT: [TypeObject, number, Record<string, number>][] = [
  [ObjectOpenOpts, 80, { object_name: 8, relaxed_maps: 16, pin_root_path: 24, kconfig: 40, btf_custom_path: 48, kernel_log_buf: 56, kernel_log_size: 64, kernel_log_level: 72 }],
  [XdpAttachOpts, 16, { old_prog_fd: 8 }],
  [XdpQueryOpts, 32, {}],
  [TcHook, 24, { ifindex: 8, attach_point: 12, parent: 16 }],
  [TcOpts, 32, { prog_fd: 8, flags: 12, prog_id: 16, handle: 20, priority: 24 }],
  [TestRunOpts, 80, { data_in: 8, data_out: 16, data_size_in: 24, data_size_out: 28, ctx_in: 32, ctx_out: 40, ctx_size_in: 48, ctx_size_out: 52, retval: 56, repeat: 60, duration: 64, flags: 68, cpu: 72, batch_size: 76 }],
  [MapBatchOpts, 24, { elem_flags: 8, flags: 16 }],
];

/** The option structs as koffi lays them out: C name -> size and field offsets (for layout tests). */
export function optionStructLayouts(): Record<string, { size: number; offsets: Record<string, number> }> {
  const out: Record<string, { size: number; offsets: Record<string, number> }> = {};
  for (const [t] of EXPECTED_LAYOUT) {
    const offsets: Record<string, number> = {};
    for (const [name, m] of Object.entries(t.members ?? {})) if (!name.startsWith('_')) offsets[name] = m.offset;
    out[t.name] = { size: t.size, offsets };
  }
  return out;
}

/** Throws if a koffi struct drifted from the C layout (checked once at load; also unit-tested). */
export function checkLayouts(): void {
  for (const [t, size, offs] of EXPECTED_LAYOUT) {
    if (t.size !== size) throw new Error(`Cannot use struct ${t.name}: koffi size ${t.size}, C size ${size}`);
    for (const [f, o] of Object.entries(offs)) {
      const got = koffi.offsetof(t, f);
      if (got !== o) throw new Error(`Cannot use struct ${t.name}: field ${f} at ${got}, C offset ${o}`);
    }
  }
}
checkLayouts();

// ---------------------------------------------------------------------------------------------
// Function declarations

const PrintFn = koffi.proto('int libbpf_print_fn(int level, void *fmt, void *ap)');
const SampleFn = koffi.proto('int ring_buffer_sample_fn(void *ctx, void *data, size_t size)');

const f = {
  libbpf_strerror: lib.func('int libbpf_strerror(int err, _Out_ uint8_t *buf, size_t size)'),
  libbpf_set_print: lib.func('void *libbpf_set_print(libbpf_print_fn *fn)'),
  libbpf_major_version: lib.func('uint32_t libbpf_major_version(void)'),
  libbpf_minor_version: lib.func('uint32_t libbpf_minor_version(void)'),
  libbpf_version_string: lib.func('const char *libbpf_version_string(void)'),
  libbpf_num_possible_cpus: lib.func('int libbpf_num_possible_cpus(void)'),
  libbpf_probe_bpf_prog_type: lib.func('int libbpf_probe_bpf_prog_type(int prog_type, void *opts)'),

  bpf_object__open_file: lib.func('void *bpf_object__open_file(const char *path, bpf_object_open_opts *opts)'),
  bpf_object__load: lib.func('int bpf_object__load(void *obj)'),
  bpf_object__close: lib.func('void bpf_object__close(void *obj)'),
  bpf_object__name: lib.func('const char *bpf_object__name(void *obj)'),
  bpf_object__next_map: lib.func('void *bpf_object__next_map(void *obj, void *prev)'),
  bpf_object__next_program: lib.func('void *bpf_object__next_program(void *obj, void *prev)'),

  bpf_map__name: lib.func('const char *bpf_map__name(void *map)'),
  bpf_map__fd: lib.func('int bpf_map__fd(void *map)'),
  bpf_map__type: lib.func('int bpf_map__type(void *map)'),
  bpf_map__key_size: lib.func('uint32_t bpf_map__key_size(void *map)'),
  bpf_map__value_size: lib.func('uint32_t bpf_map__value_size(void *map)'),
  bpf_map__max_entries: lib.func('uint32_t bpf_map__max_entries(void *map)'),
  bpf_map__set_max_entries: lib.func('int bpf_map__set_max_entries(void *map, uint32_t n)'),
  bpf_map__pin_path: lib.func('const char *bpf_map__pin_path(void *map)'),
  bpf_map__is_pinned: lib.func('bool bpf_map__is_pinned(void *map)'),

  bpf_program__name: lib.func('const char *bpf_program__name(void *prog)'),
  bpf_program__section_name: lib.func('const char *bpf_program__section_name(void *prog)'),
  bpf_program__fd: lib.func('int bpf_program__fd(void *prog)'),
  bpf_program__type: lib.func('int bpf_program__type(void *prog)'),
  bpf_program__set_autoload: lib.func('int bpf_program__set_autoload(void *prog, bool autoload)'),
  bpf_program__attach: lib.func('void *bpf_program__attach(void *prog)'),
  bpf_program__attach_cgroup: lib.func('void *bpf_program__attach_cgroup(void *prog, int cgroup_fd)'),
  bpf_program__attach_tracepoint: lib.func('void *bpf_program__attach_tracepoint(void *prog, const char *cat, const char *name)'),
  bpf_program__attach_raw_tracepoint: lib.func('void *bpf_program__attach_raw_tracepoint(void *prog, const char *name)'),

  bpf_link__pin: lib.func('int bpf_link__pin(void *link, const char *path)'),
  bpf_link__unpin: lib.func('int bpf_link__unpin(void *link)'),
  bpf_link__detach: lib.func('int bpf_link__detach(void *link)'),
  bpf_link_create: lib.func('int bpf_link_create(int prog_fd, int target_fd, int attach_type, void *opts)'),
  bpf_link_update: lib.func('int bpf_link_update(int link_fd, int new_prog_fd, void *opts)'),
  bpf_link_detach: lib.func('int bpf_link_detach(int link_fd)'),
  bpf_link__destroy: lib.func('int bpf_link__destroy(void *link)'),
  bpf_link__fd: lib.func('int bpf_link__fd(void *link)'),
  bpf_link__open: lib.func('void *bpf_link__open(const char *path)'),

  bpf_xdp_attach: lib.func('int bpf_xdp_attach(int ifindex, int prog_fd, uint32_t flags, bpf_xdp_attach_opts *opts)'),
  bpf_xdp_detach: lib.func('int bpf_xdp_detach(int ifindex, uint32_t flags, bpf_xdp_attach_opts *opts)'),
  bpf_xdp_query: lib.func('int bpf_xdp_query(int ifindex, int flags, _Inout_ bpf_xdp_query_opts *opts)'),

  bpf_tc_hook_create: lib.func('int bpf_tc_hook_create(bpf_tc_hook *hook)'),
  bpf_tc_hook_destroy: lib.func('int bpf_tc_hook_destroy(bpf_tc_hook *hook)'),
  bpf_tc_attach: lib.func('int bpf_tc_attach(bpf_tc_hook *hook, _Inout_ bpf_tc_opts *opts)'),
  bpf_tc_detach: lib.func('int bpf_tc_detach(bpf_tc_hook *hook, bpf_tc_opts *opts)'),
  bpf_tc_query: lib.func('int bpf_tc_query(bpf_tc_hook *hook, _Inout_ bpf_tc_opts *opts)'),

  bpf_prog_test_run_opts: lib.func('int bpf_prog_test_run_opts(int prog_fd, _Inout_ bpf_test_run_opts *opts)'),
  bpf_enable_stats: lib.func('int bpf_enable_stats(int type)'),

  bpf_obj_get: lib.func('int bpf_obj_get(const char *path)'),
  bpf_obj_pin: lib.func('int bpf_obj_pin(int fd, const char *path)'),
  bpf_obj_get_info_by_fd: lib.func('int bpf_obj_get_info_by_fd(int fd, void *info, _Inout_ uint32_t *len)'),
  bpf_map_lookup_elem: lib.func('int bpf_map_lookup_elem(int fd, void *key, void *value)'),
  bpf_map_update_elem: lib.func('int bpf_map_update_elem(int fd, void *key, void *value, uint64_t flags)'),
  bpf_map_delete_elem: lib.func('int bpf_map_delete_elem(int fd, void *key)'),
  bpf_map_get_next_key: lib.func('int bpf_map_get_next_key(int fd, void *key, void *next_key)'),
  bpf_map_update_batch: lib.func('int bpf_map_update_batch(int fd, void *keys, void *values, _Inout_ uint32_t *count, bpf_map_batch_opts *opts)'),
  bpf_map_lookup_batch: lib.func('int bpf_map_lookup_batch(int fd, void *in_batch, void *out_batch, void *keys, void *values, _Inout_ uint32_t *count, bpf_map_batch_opts *opts)'),
  bpf_map_delete_batch: lib.func('int bpf_map_delete_batch(int fd, void *keys, _Inout_ uint32_t *count, bpf_map_batch_opts *opts)'),

  ring_buffer__new: lib.func('void *ring_buffer__new(int map_fd, ring_buffer_sample_fn *cb, void *ctx, void *opts)'),
  ring_buffer__consume: lib.func('int ring_buffer__consume(void *rb)'),
  ring_buffer__epoll_fd: lib.func('int ring_buffer__epoll_fd(void *rb)'),
  ring_buffer__free: lib.func('void ring_buffer__free(void *rb)'),

  vsnprintf: libc.func('int vsnprintf(void *buf, size_t size, void *fmt, void *ap)'),
  close: libc.func('int close(int fd)'),
  socket: libc.func('int socket(int domain, int type, int protocol)'),
  getsockopt: libc.func('int getsockopt(int fd, int level, int name, _Out_ uint8_t *val, _Inout_ uint32_t *len)'),
  // Raw bpf(2) for commands libbpf 1.1.2 cannot express (netfilter links, kernel 6.4+).
  syscall_bpf: libc.func('long syscall(long number, int cmd, _Inout_ uint8_t *attr, unsigned int size)'),
  bpf_program__set_type: lib.func('int bpf_program__set_type(void *prog, int type)'),
  bpf_program__set_expected_attach_type: lib.func('int bpf_program__set_expected_attach_type(void *prog, int type)'),
};

// ---------------------------------------------------------------------------------------------
// Network namespace identity

const SO_NETNS_COOKIE = 71; // Linux 5.14+
/**
 * The cookie of the calling thread's network namespace: unlike the nsfs inode number, it is never
 * reused by a later namespace during this boot. undefined when the kernel lacks SO_NETNS_COOKIE.
 */
export function netnsCookie(): bigint | undefined {
  const fd = f.socket(1 /* AF_UNIX */, 2 /* SOCK_DGRAM */, 0) as number;
  if (fd < 0) return undefined;
  try {
    const val = Buffer.alloc(8);
    const len = [8];
    return f.getsockopt(fd, 1 /* SOL_SOCKET */, SO_NETNS_COOKIE, val, len) === 0 ? val.readBigUInt64LE(0) : undefined;
  } finally {
    f.close(fd);
  }
}

// ---------------------------------------------------------------------------------------------
// Errors

const errBuf = Buffer.alloc(256);

/** Text for a libbpf error (negative or positive errno, or a LIBBPF_ERRNO__* code). */
export function strerror(err: number): string {
  const e = Math.abs(err);
  // Kernel-internal ENOTSUPP leaks out of the bpf() syscall; libc has no text for it.
  if (e === 524) return 'Operation not supported (ENOTSUPP)';
  errBuf.fill(0);
  f.libbpf_strerror(e, errBuf, errBuf.length);
  const n = errBuf.indexOf(0);
  return errBuf.toString('utf8', 0, n < 0 ? errBuf.length : n);
}

/** Positive errno of the last failed libc/libbpf call that reports through errno. */
export function lastErrno(): number {
  return koffi.errno();
}

export class LibbpfError extends DifwError {
  readonly errno: number;
  constructor(code: ErrorCode, what: string, err: number) {
    super(code, `Cannot ${what}: ${strerror(err)} (errno ${Math.abs(err)})`);
    this.errno = Math.abs(err);
  }
}

/** Throws `LibbpfError(code, "Cannot <what>: <strerror>")` when `ret` is negative; else returns it. */
export function check(ret: number, code: ErrorCode, what: () => string): number {
  if (ret < 0) throw new LibbpfError(code, what(), ret);
  return ret;
}

function ptrOrThrow<T extends bigint>(p: unknown, code: ErrorCode, what: () => string): T {
  if (p === null || p === undefined || p === 0n) {
    const e = koffi.errno() || 22; // EINVAL when libbpf left errno unset
    throw new LibbpfError(code, what(), -e);
  }
  return p as T;
}

// ---------------------------------------------------------------------------------------------
// libbpf print output (including verifier logs on load failure)

export type LogLevel = 'warn' | 'info' | 'debug';
export type PrintHandler = (level: LogLevel, line: string) => void;

const LEVELS: LogLevel[] = ['warn', 'info', 'debug']; // LIBBPF_WARN, LIBBPF_INFO, LIBBPF_DEBUG
const RECENT_MAX = 400;
const recent: string[] = [];
const handlers = new Set<PrintHandler>();
const fmtBuf = Buffer.alloc(16384);
let partial = '';
let printRegistered = false;
let captureDepth = 0;

/** True while `captureLibbpfOutput` runs (its caller logs the lines itself). */
export function capturing(): boolean {
  return captureDepth > 0;
}

/**
 * Size of the va_list object the callback's `ap` points to. On x86_64 (SysV) and arm64
 * (AAPCS64) a va_list handed to a function is a pointer to that object, and va_copy is a plain
 * copy of it, which is what lets a truncated message be formatted a second time.
 */
const VA_LIST_SIZE = process.arch === 'arm64' ? 32 : process.arch === 'x64' ? 24 : 0;
const apCopy = Buffer.alloc(Math.max(VA_LIST_SIZE, 8));

function onPrint(level: number, fmt: unknown, ap: unknown): number {
  try {
    if (VA_LIST_SIZE) Buffer.from(koffi.view(ap as bigint, VA_LIST_SIZE)).copy(apCopy);
    let buf = fmtBuf;
    let n = f.vsnprintf(buf, buf.length, fmt, ap) as number;
    if (n <= 0) return 0;
    if (n >= buf.length && VA_LIST_SIZE) {
      // Long output (a whole verifier log arrives as one %s): format again into a big enough buffer.
      buf = Buffer.alloc(n + 1);
      n = f.vsnprintf(buf, buf.length, fmt, apCopy) as number;
      if (n <= 0) return 0;
    }
    const text = partial + buf.toString('utf8', 0, Math.min(n, buf.length - 1));
    const lines = text.split('\n');
    partial = lines.pop() ?? ''; // libbpf sometimes prints one line in several calls
    const lvl = LEVELS[level] ?? 'debug';
    for (const line of lines) {
      recent.push(line);
      if (recent.length > RECENT_MAX) recent.shift();
      for (const h of handlers) h(lvl, line);
    }
    return n;
  } catch {
    return 0; // never let a JS exception unwind into libbpf
  }
}

function ensurePrint(): void {
  // libbpf's print hook is process-global: only the main thread installs it, so a callback
  // never has to hop to another (possibly blocked) thread's event loop.
  if (printRegistered || !isMainThread) return;
  // Registered once for the process lifetime (the slot is never released on purpose: libbpf
  // keeps the pointer globally and may print from any later call).
  const cb = koffi.register(onPrint, koffi.pointer(PrintFn));
  f.libbpf_set_print(cb);
  printRegistered = true;
}

/** Subscribe to libbpf's print output; returns an unsubscribe function. */
export function onLibbpfPrint(h: PrintHandler): () => void {
  ensurePrint();
  handlers.add(h);
  return () => void handlers.delete(h);
}

/** Run `fn` and return the libbpf lines printed meanwhile (the verifier log on load failure). */
export function captureLibbpfOutput<T>(fn: () => T): { result?: T; error?: unknown; lines: string[] } {
  ensurePrint();
  const lines: string[] = [];
  const h: PrintHandler = (_l, line) => void lines.push(line);
  handlers.add(h);
  captureDepth++;
  try {
    return { result: fn(), lines };
  } catch (error) {
    return { error, lines };
  } finally {
    captureDepth--;
    handlers.delete(h);
    if (partial) {
      lines.push(partial);
      partial = '';
    }
  }
}

/** The last few hundred libbpf lines, oldest first. */
export function recentLibbpfOutput(): string[] {
  return recent.slice();
}

/**
 * From module load on, libbpf's messages go to the pino logger by level (never straight to
 * stderr, which libbpf's default printer would do), except while a caller captures them to
 * put them into an error (it logs them itself at debug).
 */
function routeToLogger(): void {
  const log = logger('libbpf');
  onLibbpfPrint((level, line) => {
    if (captureDepth > 0) return;
    if (level === 'warn') log.warn(line);
    else if (level === 'info') log.info(line);
    else log.debug(line);
  });
}
routeToLogger();

// ---------------------------------------------------------------------------------------------
// Library info

export function libbpfVersion(): string {
  return f.libbpf_version_string() as string;
}

let cpus = 0;
export function numPossibleCpus(): number {
  if (!cpus) cpus = check(f.libbpf_num_possible_cpus() as number, 'DIFW_E_BPF_SYSCALL', () => 'count possible CPUs');
  return cpus;
}

const BPF_PROG_TYPE_XDP = 6;

/**
 * Why BPF cannot be used by this process (null when it can): loads a trivial XDP program
 * through libbpf's feature probe, which needs the bpf() syscall and CAP_BPF/CAP_SYS_ADMIN.
 */
export function bpfUnavailableReason(): string | null {
  const r = f.libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_XDP, null) as number;
  if (r === 1) return null;
  if (r === 0) return 'the kernel does not support XDP programs';
  return `the bpf() syscall failed: ${strerror(r)}`;
}

export function closeFd(fd: number): void {
  if (fd >= 0) f.close(fd);
}

const BPF_STATS_RUN_TIME = 0;
/**
 * Turn on the kernel's per-program run-time accounting (run_time_ns, run_cnt in the program
 * info) until the returned fd is closed, or the process exits: unlike the kernel.bpf_stats_enabled
 * sysctl, nothing stays on after a crash. Returns the function that turns it off again.
 */
export function enableRunTimeStats(): () => void {
  let fd = check(f.bpf_enable_stats(BPF_STATS_RUN_TIME) as number, 'DIFW_E_BPF_SYSCALL', () => 'enable BPF run-time statistics');
  return () => {
    closeFd(fd);
    fd = -1;
  };
}

// ---------------------------------------------------------------------------------------------
// Objects, maps, programs

export function objectOpen(path: string, pinRoot?: string): ObjHandle {
  ensurePrint();
  const opts = { sz: ObjectOpenOpts.size, pin_root_path: pinRoot ?? null };
  const obj = f.bpf_object__open_file(path, opts);
  return ptrOrThrow<ObjHandle>(obj, 'DIFW_E_BPF_LOAD', () => `open BPF object ${path}`);
}

/** Returns libbpf's result (0 or -errno); the caller builds the error with the captured log. */
export function objectLoad(obj: ObjHandle): number {
  return f.bpf_object__load(obj) as number;
}

export function objectClose(obj: ObjHandle): void {
  f.bpf_object__close(obj);
}

export function objectName(obj: ObjHandle): string {
  return f.bpf_object__name(obj) as string;
}

export function objectMaps(obj: ObjHandle): MapHandle[] {
  const out: MapHandle[] = [];
  for (let m = f.bpf_object__next_map(obj, null); m; m = f.bpf_object__next_map(obj, m)) out.push(m);
  return out;
}

export function objectPrograms(obj: ObjHandle): ProgHandle[] {
  const out: ProgHandle[] = [];
  for (let p = f.bpf_object__next_program(obj, null); p; p = f.bpf_object__next_program(obj, p)) out.push(p);
  return out;
}

export interface MapDesc {
  name: string;
  fd: number;
  type: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  pinPath: string | null;
  pinned: boolean;
}

export function mapDesc(m: MapHandle): MapDesc {
  return {
    name: f.bpf_map__name(m) as string,
    fd: f.bpf_map__fd(m) as number,
    type: f.bpf_map__type(m) as number,
    keySize: f.bpf_map__key_size(m) as number,
    valueSize: f.bpf_map__value_size(m) as number,
    maxEntries: f.bpf_map__max_entries(m) as number,
    pinPath: (f.bpf_map__pin_path(m) as string | null) ?? null,
    pinned: f.bpf_map__is_pinned(m) as boolean,
  };
}

export function mapSetMaxEntries(m: MapHandle, n: number): void {
  check(f.bpf_map__set_max_entries(m, n) as number, 'DIFW_E_BPF_MAP', () => `set max_entries of map ${f.bpf_map__name(m)}`);
}

export interface ProgDesc {
  name: string;
  section: string;
  fd: number;
  type: number;
}

export function progDesc(p: ProgHandle): ProgDesc {
  return {
    name: f.bpf_program__name(p) as string,
    section: f.bpf_program__section_name(p) as string,
    fd: f.bpf_program__fd(p) as number,
    type: f.bpf_program__type(p) as number,
  };
}

export function progFd(p: ProgHandle): number {
  return f.bpf_program__fd(p) as number;
}

/** Set the program type (and expected attach type) before load, for sections libbpf 1.1.2 does not know. */
export function progSetType(p: ProgHandle, type: number, expectedAttachType: number): void {
  check(f.bpf_program__set_type(p, type) as number, 'DIFW_E_BPF_LOAD', () => `set type of program ${f.bpf_program__name(p)}`);
  check(f.bpf_program__set_expected_attach_type(p, expectedAttachType) as number, 'DIFW_E_BPF_LOAD', () => `set attach type of program ${f.bpf_program__name(p)}`);
}

const SYS_BPF = 321; // x86_64
const BPF_LINK_CREATE = 28;
export const BPF_PROG_TYPE_NETFILTER = 32;
export const BPF_NETFILTER = 45;

/**
 * BPF_LINK_CREATE for a netfilter hook (union bpf_attr.link_create: prog_fd, target_fd,
 * attach_type, flags, then netfilter {pf, hooknum, priority, flags}). Returns the link fd; the
 * hook lives in the caller's network namespace while the fd or a pin of it exists.
 */
export function netfilterLinkCreate(progFd: number, pf: number, hooknum: number, priority: number, what: () => string): number {
  const attr = Buffer.alloc(128);
  attr.writeUInt32LE(progFd, 0);
  attr.writeUInt32LE(BPF_NETFILTER, 8);
  attr.writeUInt32LE(pf, 16);
  attr.writeUInt32LE(hooknum, 20);
  attr.writeInt32LE(priority, 24);
  const r = Number(f.syscall_bpf(SYS_BPF, BPF_LINK_CREATE, attr, attr.length));
  if (r < 0) throw new LibbpfError('DIFW_E_BPF_ATTACH', what(), -(koffi.errno() || 22));
  return r;
}

/** enum bpf_attach_type: TCX hooks (kernel 6.6+; newer than libbpf 1.1's headers, not its calls). */
export const BPF_TCX_INGRESS = 46;
export const BPF_TCX_EGRESS = 47;

/**
 * A TCX link (bpf_link_create with no options: run after the programs already there). Returns
 * the link fd; the program stays attached while the fd or a pin of it exists and the device
 * lives.
 */
export function tcxLinkCreate(progFd: number, ifindex: number, attachType: number, what: () => string): number {
  return check(f.bpf_link_create(progFd, ifindex, attachType, null) as number, 'DIFW_E_BPF_ATTACH', what);
}

/** Swap the program of a link atomically. */
export function linkUpdate(linkFd: number, progFd: number, what: () => string): void {
  check(f.bpf_link_update(linkFd, progFd, null) as number, 'DIFW_E_BPF_ATTACH', what);
}

/** Detach a link now, whoever else holds it. */
export function linkDetachFd(linkFd: number, what: () => string): void {
  check(f.bpf_link_detach(linkFd) as number, 'DIFW_E_BPF_ATTACH', what);
}

/** struct bpf_link_info of a TCX link: {type, id, prog_id, ..., tcx {ifindex, attach_type} at 16}. */
export function tcxLinkInfo(linkFd: number): { progId: number; ifindex: number; attachType: number } {
  const info = Buffer.alloc(64);
  const len = [info.length];
  check(f.bpf_obj_get_info_by_fd(linkFd, info, len) as number, 'DIFW_E_BPF_SYSCALL', () => `read BPF link info of fd ${linkFd}`);
  return { progId: info.readUInt32LE(8), ifindex: info.readUInt32LE(16), attachType: info.readUInt32LE(20) };
}

export function progSetAutoload(p: ProgHandle, on: boolean): void {
  check(f.bpf_program__set_autoload(p, on) as number, 'DIFW_E_BPF_LOAD', () => `set autoload of program ${f.bpf_program__name(p)}`);
}

// ---------------------------------------------------------------------------------------------
// Links

export function attachCgroup(p: ProgHandle, cgroupFd: number, what: () => string): LinkHandle {
  return ptrOrThrow<LinkHandle>(f.bpf_program__attach_cgroup(p, cgroupFd), 'DIFW_E_BPF_ATTACH', what);
}

export function attachTracepoint(p: ProgHandle, category: string, name: string, what: () => string): LinkHandle {
  return ptrOrThrow<LinkHandle>(f.bpf_program__attach_tracepoint(p, category, name), 'DIFW_E_BPF_ATTACH', what);
}

export function attachRawTracepoint(p: ProgHandle, name: string, what: () => string): LinkHandle {
  return ptrOrThrow<LinkHandle>(f.bpf_program__attach_raw_tracepoint(p, name), 'DIFW_E_BPF_ATTACH', what);
}

/** Auto-attach by section name (tp/, raw_tp/, tp_btf/, fentry/, kprobe/ ...). */
export function attachAuto(p: ProgHandle, what: () => string): LinkHandle {
  return ptrOrThrow<LinkHandle>(f.bpf_program__attach(p), 'DIFW_E_BPF_ATTACH', what);
}

export function linkOpenPinned(path: string): LinkHandle {
  return ptrOrThrow<LinkHandle>(f.bpf_link__open(path), 'DIFW_E_BPF_ATTACH', () => `open pinned BPF link ${path}`);
}

export function linkPin(l: LinkHandle, path: string): void {
  check(f.bpf_link__pin(l, path) as number, 'DIFW_E_BPF_ATTACH', () => `pin BPF link at ${path}`);
}

export function linkUnpin(l: LinkHandle): void {
  check(f.bpf_link__unpin(l) as number, 'DIFW_E_BPF_ATTACH', () => 'unpin BPF link');
}

export function linkDetach(l: LinkHandle): void {
  check(f.bpf_link__detach(l) as number, 'DIFW_E_BPF_ATTACH', () => 'detach BPF link');
}

export function linkDestroy(l: LinkHandle): void {
  f.bpf_link__destroy(l);
}

export function linkFd(l: LinkHandle): number {
  return f.bpf_link__fd(l) as number;
}

// ---------------------------------------------------------------------------------------------
// XDP and TC (netlink attachments: they outlive the process and the object)

export const XDP_FLAGS_UPDATE_IF_NOEXIST = 1;
export const XDP_FLAGS_SKB_MODE = 2;
export const XDP_FLAGS_DRV_MODE = 4;
export const XDP_FLAGS_HW_MODE = 8;
export const XDP_FLAGS_REPLACE = 16;

export function xdpAttach(ifindex: number, progFd: number, flags: number, what: () => string): void {
  check(f.bpf_xdp_attach(ifindex, progFd, flags, null) as number, 'DIFW_E_BPF_ATTACH', what);
}

export function xdpDetach(ifindex: number, flags: number, what: () => string): void {
  check(f.bpf_xdp_detach(ifindex, flags, null) as number, 'DIFW_E_BPF_ATTACH', what);
}

export interface XdpQuery {
  progId: number;
  drvProgId: number;
  hwProgId: number;
  skbProgId: number;
  /** XDP_ATTACHED_NONE=0, DRV=1, SKB=2, HW=3, MULTI=4 */
  attachMode: number;
}

export function xdpQuery(ifindex: number): XdpQuery {
  const o = { sz: XdpQueryOpts.size, prog_id: 0, drv_prog_id: 0, hw_prog_id: 0, skb_prog_id: 0, attach_mode: 0 };
  check(f.bpf_xdp_query(ifindex, 0, o) as number, 'DIFW_E_BPF_ATTACH', () => `query XDP programs on ifindex ${ifindex}`);
  return { progId: o.prog_id, drvProgId: o.drv_prog_id, hwProgId: o.hw_prog_id, skbProgId: o.skb_prog_id, attachMode: o.attach_mode };
}

export const BPF_TC_INGRESS = 1;
export const BPF_TC_EGRESS = 2;
export const BPF_TC_F_REPLACE = 1;
const EEXIST = 17;

export function tcHookCreate(ifindex: number, point: number): void {
  const hook = { sz: TcHook.size, ifindex, attach_point: point, parent: 0 };
  const r = f.bpf_tc_hook_create(hook) as number;
  if (r === -EEXIST) return; // the clsact qdisc is already there (shared by ingress and egress)
  check(r, 'DIFW_E_BPF_ATTACH', () => `create clsact qdisc on ifindex ${ifindex}`);
}

export function tcHookDestroy(ifindex: number, point: number): void {
  const hook = { sz: TcHook.size, ifindex, attach_point: point, parent: 0 };
  check(f.bpf_tc_hook_destroy(hook) as number, 'DIFW_E_BPF_ATTACH', () => `destroy clsact qdisc on ifindex ${ifindex}`);
}

export function tcAttach(ifindex: number, point: number, progFd: number, handle: number, priority: number, flags: number, what: () => string): number {
  const hook = { sz: TcHook.size, ifindex, attach_point: point, parent: 0 };
  const o = { sz: TcOpts.size, prog_fd: progFd, flags, prog_id: 0, handle, priority };
  check(f.bpf_tc_attach(hook, o) as number, 'DIFW_E_BPF_ATTACH', what);
  return o.prog_id;
}

export function tcDetach(ifindex: number, point: number, handle: number, priority: number, what: () => string): void {
  const hook = { sz: TcHook.size, ifindex, attach_point: point, parent: 0 };
  const o = { sz: TcOpts.size, prog_fd: 0, flags: 0, prog_id: 0, handle, priority };
  check(f.bpf_tc_detach(hook, o) as number, 'DIFW_E_BPF_ATTACH', what);
}

/** Program id attached at (handle, priority), or 0 when there is none. */
export function tcQuery(ifindex: number, point: number, handle: number, priority: number): number {
  const hook = { sz: TcHook.size, ifindex, attach_point: point, parent: 0 };
  const o = { sz: TcOpts.size, prog_fd: 0, flags: 0, prog_id: 0, handle, priority };
  const r = f.bpf_tc_query(hook, o) as number;
  if (r === -2 /* ENOENT */ || r === -22 /* EINVAL: no clsact */) return 0;
  check(r, 'DIFW_E_BPF_ATTACH', () => `query TC programs on ifindex ${ifindex}`);
  return o.prog_id;
}

// ---------------------------------------------------------------------------------------------
// BPF_PROG_TEST_RUN

export interface TestRunResult {
  retval: number;
  dataSizeOut: number;
  durationNs: number;
}

/** `dataOut` receives the (possibly modified) packet; the kernel reports the bytes written. */
export function progTestRun(progFd: number, data: Buffer, dataOut: Buffer | null, ctxIn: Buffer | null, repeat: number, what: () => string): TestRunResult {
  const o = {
    sz: TestRunOpts.size,
    data_in: koffi.address(data),
    data_out: dataOut ? koffi.address(dataOut) : null,
    data_size_in: data.length,
    data_size_out: dataOut ? dataOut.length : 0,
    ctx_in: ctxIn ? koffi.address(ctxIn) : null,
    ctx_out: null,
    ctx_size_in: ctxIn ? ctxIn.length : 0,
    ctx_size_out: 0,
    retval: 0,
    repeat,
    duration: 0,
    flags: 0,
    cpu: 0,
    batch_size: 0,
  };
  check(f.bpf_prog_test_run_opts(progFd, o) as number, 'DIFW_E_BPF_SYSCALL', what);
  // Keep the buffers alive across the call (their addresses were passed as integers).
  void data.length, void dataOut?.length, void ctxIn?.length;
  return { retval: o.retval, dataSizeOut: o.data_size_out, durationNs: o.duration };
}

// ---------------------------------------------------------------------------------------------
// Map syscalls (fd based; hot path: no allocation beyond what koffi does per call)

export const BPF_ANY = 0;
export const BPF_NOEXIST = 1;
export const BPF_EXIST = 2;
const ENOENT = 2;

export function objGet(path: string): number {
  return check(f.bpf_obj_get(path) as number, 'DIFW_E_BPF_MAP', () => `open pinned BPF object ${path}`);
}

export function objPin(fd: number, path: string): void {
  check(f.bpf_obj_pin(fd, path) as number, 'DIFW_E_BPF_MAP', () => `pin BPF object at ${path}`);
}

export interface MapInfo {
  type: number;
  id: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  mapFlags: number;
  name: string;
}

/** struct bpf_map_info (88 bytes in 1.1.2 headers): type, id, key_size, value_size, max_entries, map_flags, name[16] ... */
export function mapInfoByFd(fd: number): MapInfo {
  // bpf_obj_get_info_by_fd answers for programs and links too, with a different layout: make
  // sure this fd is a map (its fdinfo has a map_type line) before reading map fields.
  let fdinfo = '';
  try {
    fdinfo = readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8');
  } catch {
    /* no procfs: trust the caller */
  }
  if (fdinfo && !/^map_type:/m.test(fdinfo)) throw new DifwError('DIFW_E_BPF_MAP', `Cannot use BPF object fd ${fd} as a map: it is not a map`);
  const info = Buffer.alloc(88);
  const len = [info.length];
  check(f.bpf_obj_get_info_by_fd(fd, info, len) as number, 'DIFW_E_BPF_MAP', () => `read BPF map info of fd ${fd}`);
  const nameEnd = info.indexOf(0, 24);
  return {
    type: info.readUInt32LE(0),
    id: info.readUInt32LE(4),
    keySize: info.readUInt32LE(8),
    valueSize: info.readUInt32LE(12),
    maxEntries: info.readUInt32LE(16),
    mapFlags: info.readUInt32LE(20),
    name: info.toString('utf8', 24, nameEnd < 0 || nameEnd > 40 ? 40 : nameEnd),
  };
}

/** Kernel id of a BPF object fd (prog/map/link info all start with `__u32 type; __u32 id;`). */
export function objId(fd: number): number {
  const info = Buffer.alloc(8);
  const len = [info.length];
  check(f.bpf_obj_get_info_by_fd(fd, info, len) as number, 'DIFW_E_BPF_SYSCALL', () => `read BPF object info of fd ${fd}`);
  return info.readUInt32LE(4);
}

/** true if found (value filled), false on ENOENT; throws on other errors. */
export function mapLookup(fd: number, key: Buffer, value: Buffer, name = `fd ${fd}`): boolean {
  const r = f.bpf_map_lookup_elem(fd, key, value) as number;
  if (r === 0) return true;
  if (r === -ENOENT) return false;
  throw new LibbpfError('DIFW_E_BPF_MAP', `look up a key in BPF map ${name}`, r);
}

/** Returns 0 or -errno (callers decide how to report EEXIST/ENOENT/E2BIG for their flags). */
export function mapUpdate(fd: number, key: Buffer, value: Buffer, flags: number): number {
  return f.bpf_map_update_elem(fd, key, value, flags) as number;
}

/** true if deleted, false if the key was absent. */
export function mapDelete(fd: number, key: Buffer, name = `fd ${fd}`): boolean {
  const r = f.bpf_map_delete_elem(fd, key) as number;
  if (r === 0) return true;
  if (r === -ENOENT) return false;
  throw new LibbpfError('DIFW_E_BPF_MAP', `delete a key from BPF map ${name}`, r);
}

/** Fills `next` with the key after `key` (first key when `key` is null); false at the end. */
export function mapNextKey(fd: number, key: Buffer | null, next: Buffer, name = `fd ${fd}`): boolean {
  const r = f.bpf_map_get_next_key(fd, key, next) as number;
  if (r === 0) return true;
  if (r === -ENOENT) return false;
  throw new LibbpfError('DIFW_E_BPF_MAP', `iterate BPF map ${name}`, r);
}

/** bpf_map_update_batch: returns { err (0 or -errno), done (entries processed) }. */
export function mapUpdateBatch(fd: number, keys: Buffer, values: Buffer, count: number, elemFlags: number): { err: number; done: number } {
  const n = [count];
  const opts = { sz: MapBatchOpts.size, elem_flags: BigInt(elemFlags), flags: 0n };
  const err = f.bpf_map_update_batch(fd, keys, values, n, opts) as number;
  return { err, done: n[0]! };
}

/**
 * bpf_map_lookup_batch: fills up to `count` keys/values starting after token `inBatch` (null =
 * from the start) and writes the resume token to `outBatch`. err is -ENOENT on the last chunk.
 */
export function mapLookupBatch(fd: number, inBatch: Buffer | null, outBatch: Buffer, keys: Buffer, values: Buffer, count: number): { err: number; done: number } {
  const n = [count];
  const opts = { sz: MapBatchOpts.size, elem_flags: 0n, flags: 0n };
  const err = f.bpf_map_lookup_batch(fd, inBatch, outBatch, keys, values, n, opts) as number;
  return { err, done: n[0]! };
}

export function mapDeleteBatch(fd: number, keys: Buffer, count: number): { err: number; done: number } {
  const n = [count];
  const opts = { sz: MapBatchOpts.size, elem_flags: 0n, flags: 0n };
  const err = f.bpf_map_delete_batch(fd, keys, n, opts) as number;
  return { err, done: n[0]! };
}

// ---------------------------------------------------------------------------------------------
// Ring buffer

export interface RingConsumer {
  /** Drain every pending record (runs the callback for each); returns the count. */
  consume(): number;
  /** epoll fd that becomes readable when records are pending. */
  readonly epollFd: number;
  free(): void;
}

/**
 * Create a libbpf ring_buffer on `mapFd`. `onRecord` gets a copy of each record. The sample
 * callback is a registered koffi callback: it only runs inside `consume()`, on the calling
 * (main) thread, so no cross-thread marshalling happens.
 */
export function ringBufferNew(mapFd: number, onRecord: (rec: Buffer) => void): RingConsumer {
  const cb = koffi.register((_ctx: unknown, data: bigint, size: number | bigint) => {
    try {
      const n = Number(size);
      onRecord(Buffer.from(new Uint8Array(koffi.view(data, n)).slice()));
    } catch {
      /* the consumer's own errors are its business; never unwind into libbpf */
    }
    return 0;
  }, koffi.pointer(SampleFn));
  const rb = f.ring_buffer__new(mapFd, cb, null, null);
  if (!rb) {
    const e = koffi.errno() || 22;
    koffi.unregister(cb);
    throw new LibbpfError('DIFW_E_BPF_MAP', `create ring buffer consumer on map fd ${mapFd}`, -e);
  }
  let freed = false;
  return {
    epollFd: f.ring_buffer__epoll_fd(rb) as number,
    consume() {
      if (freed) return 0;
      return check(f.ring_buffer__consume(rb) as number, 'DIFW_E_BPF_MAP', () => 'consume ring buffer');
    },
    free() {
      if (freed) return;
      freed = true;
      f.ring_buffer__free(rb);
      koffi.unregister(cb);
    },
  };
}

export interface FdWatch {
  stop(): void;
}

/**
 * Call `onReadable` on the main thread whenever `fd` is readable, through libuv's poll watcher
 * (koffi.node.poll): no thread blocks and the event loop is never held. The watcher keeps the
 * process alive only with `keepAlive`.
 */
export function watchReadable(fd: number, onReadable: () => void, keepAlive = false): FdWatch {
  const h = koffi.node.poll(fd, { readable: true }, () => onReadable());
  if (!keepAlive) h.unref();
  let stopped = false;
  return {
    stop() {
      if (stopped) return;
      stopped = true;
      h.stop();
      h.close();
    },
  };
}
