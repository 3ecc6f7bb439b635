/**
 * BPF objects (ELF files built by clang), their programs, and attachments.
 *
 * Attachment lifetimes differ by kind, and difw relies on that:
 *   - XDP (`attachXdp`) and TC (`attachTc`) use netlink: the kernel keeps the program attached
 *     after the object is closed and the process exits, and a second attach atomically replaces
 *     the first (no window without a program). Only an explicit detach removes them.
 *   - cgroup and tracepoint attachments are BPF links (`BpfLink`): they end when the link is
 *     destroyed or the process exits, unless the link is pinned on a bpffs.
 *
 * `load()` failures raise one DifwError carrying libbpf's account of the failure, including the
 * tail of the verifier log (captured from libbpf's print callback).
 */
import { mkdirSync, openSync, closeSync, statfsSync, existsSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import * as L from './libbpf.js';
import { BpfMap } from './map.js';
import { DifwError } from '../errors.js';
import { logger, type Logger } from '../log.js';

export interface OpenOptions {
  /** Directory (on a bpffs) where maps declared with LIBBPF_PIN_BY_NAME are pinned and from which they are reused. */
  pinRoot?: string;
  logger?: Logger;
}

const VERIFIER_TAIL_LINES = 30;

export class BpfObject {
  readonly path: string;
  readonly name: string;
  #h: L.ObjHandle | null;
  #log: Logger;
  #loaded = false;
  #maps = new Map<string, BpfMap>();
  /** Every map wrapper handed out (also pre-load ones dropped from #maps), closed with the object. */
  #handedOut: BpfMap[] = [];
  #progs = new Map<string, BpfProgram>();

  private constructor(path: string, h: L.ObjHandle, log: Logger) {
    this.path = path;
    this.#h = h;
    this.#log = log;
    this.name = L.objectName(h);
  }

  static open(path: string, opts: OpenOptions = {}): BpfObject {
    const log = opts.logger ?? logger('bpf');
    if (opts.pinRoot) ensurePinDir(opts.pinRoot);
    const pinRoot = opts.pinRoot;
    const { result, error, lines } = L.captureLibbpfOutput(() => L.objectOpen(path, pinRoot));
    for (const l of lines) log.debug({ libbpf: l }, 'libbpf');
    if (error !== undefined || result === undefined) {
      const tail = lines.filter((l) => !l.includes('loading object from')).slice(-5).join('\n');
      const msg = error instanceof Error ? error.message : String(error);
      throw new DifwError('DIFW_E_BPF_LOAD', tail ? `${msg}\n${tail}` : msg, { cause: error });
    }
    return new BpfObject(path, result, log);
  }

  #handle(): L.ObjHandle {
    if (!this.#h) throw new DifwError('DIFW_E_BPF_LOAD', `Cannot use BPF object ${this.name}: it was closed`);
    return this.#h;
  }

  get loaded(): boolean {
    return this.#loaded;
  }

  /** Set a map's max_entries before load (e.g. sized from configuration). */
  setMaxEntries(mapName: string, n: number): void {
    if (this.#loaded) throw new DifwError('DIFW_E_BPF_LOAD', `Cannot resize BPF map ${mapName} of ${this.name}: the object is already loaded`);
    const m = L.objectMaps(this.#handle()).find((h) => L.mapDesc(h).name === mapName);
    if (!m) throw new DifwError('DIFW_E_BPF_MAP', `Cannot find BPF map ${mapName} in ${this.name}`);
    L.mapSetMaxEntries(m, n);
    this.#maps.delete(mapName);
  }

  /** Load every program and create (or adopt pinned) maps. */
  load(): void {
    const h = this.#handle();
    if (this.#loaded) return;
    const { result: rc, lines } = L.captureLibbpfOutput(() => L.objectLoad(h));
    for (const l of lines) this.#log.debug({ libbpf: l }, 'libbpf');
    if (rc === undefined || rc < 0) throw loadError(this.name, this.path, rc ?? -22, lines);
    this.#loaded = true;
    this.#maps.clear(); // sizes may differ from pre-load wrappers (adopted pins)
  }

  map(name: string): BpfMap {
    this.#handle(); // throws once closed
    const cached = this.#maps.get(name);
    if (cached) return cached;
    const h = L.objectMaps(this.#handle()).find((m) => L.mapDesc(m).name === name);
    if (!h) throw new DifwError('DIFW_E_BPF_MAP', `Cannot find BPF map ${name} in ${this.name} (has: ${this.mapNames().join(', ')})`);
    const d = L.mapDesc(h);
    const m = new BpfMap({ name: d.name, type: d.type, keySize: d.keySize, valueSize: d.valueSize, maxEntries: d.maxEntries, fd: () => L.mapDesc(h).fd, ownsFd: false });
    this.#maps.set(name, m);
    this.#handedOut.push(m);
    return m;
  }

  maps(): BpfMap[] {
    return this.mapNames().map((n) => this.map(n));
  }

  /** Names of the object's maps, including internal ones (.bss, .rodata ...). */
  mapNames(): string[] {
    return L.objectMaps(this.#handle()).map((m) => L.mapDesc(m).name);
  }

  program(name: string): BpfProgram {
    this.#handle();
    const cached = this.#progs.get(name);
    if (cached) return cached;
    const h = L.objectPrograms(this.#handle()).find((p) => L.progDesc(p).name === name);
    if (!h) throw new DifwError('DIFW_E_BPF_LOAD', `Cannot find BPF program ${name} in ${this.name} (has: ${this.programNames().join(', ')})`);
    const p = new BpfProgram(this, name, h);
    this.#progs.set(name, p);
    return p;
  }

  programs(): BpfProgram[] {
    return this.programNames().map((n) => this.program(n));
  }

  programNames(): string[] {
    return L.objectPrograms(this.#handle()).map((p) => L.progDesc(p).name);
  }

  /** Set a program's type before load (sections libbpf 1.1.2 does not know, e.g. "netfilter"). */
  setProgramType(name: string, type: number, expectedAttachType: number): void {
    if (this.#loaded) throw new DifwError('DIFW_E_BPF_LOAD', `Cannot change the type of ${name}: ${this.name} is already loaded`);
    const h = L.objectPrograms(this.#handle()).find((p) => L.progDesc(p).name === name);
    if (!h) throw new DifwError('DIFW_E_BPF_LOAD', `Cannot find program ${name} in ${this.name}`);
    L.progSetType(h, type, expectedAttachType);
  }

  /** Do not load `names` (call before load), e.g. programs for hooks this kernel lacks. */
  skipPrograms(names: string[]): void {
    for (const n of names) {
      this.program(n); // throws a clear error for unknown names
      const h = L.objectPrograms(this.#handle()).find((p) => L.progDesc(p).name === n)!;
      L.progSetAutoload(h, false);
    }
  }

  /**
   * Free the object: program and map fds are closed. Netlink XDP/TC attachments and pinned
   * maps/links stay in the kernel; unpinned links created from this object's programs keep
   * their program alive until destroyed.
   */
  close(): void {
    if (!this.#h) return;
    for (const m of this.#handedOut) m.markClosed();
    for (const p of this.#progs.values()) p.markClosed();
    L.objectClose(this.#h);
    this.#h = null;
  }
}

const BPF_FS_MAGIC = 0xcafe4a11;

function tracefsMounted(): boolean {
  return existsSync('/sys/kernel/tracing/events') || existsSync('/sys/kernel/debug/tracing/events');
}

/**
 * Create the pin directory, refusing anything not on a bpffs (pins elsewhere fail late and
 * obscurely; and Node's recursive mkdir spins forever on sysfs, e.g. an unmounted /sys/fs/bpf,
 * so directories are made one level at a time after the check).
 */
function ensurePinDir(dir: string): void {
  const missing: string[] = [];
  let p = dir;
  for (;;) {
    try {
      const st = statfsSync(p);
      if (st.type !== BPF_FS_MAGIC) throw new DifwError('DIFW_E_BPF_LOAD', `Cannot pin BPF maps under ${dir}: ${p} is not on a bpffs`);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e instanceof DifwError ? e : new DifwError('DIFW_E_BPF_LOAD', `Cannot use BPF pin directory ${dir}: ${(e as Error).message}`, { cause: e });
      missing.unshift(p);
      const up = dirname(p);
      if (up === p) break;
      p = up;
    }
  }
  for (const d of missing) {
    try {
      mkdirSync(d, { mode: 0o700 });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new DifwError('DIFW_E_BPF_LOAD', `Cannot create BPF pin directory ${d}: ${(e as Error).message}`, { cause: e });
    }
  }
}

function loadError(objName: string, path: string, rc: number, lines: string[]): DifwError {
  // libbpf reports e.g. "libbpf: prog 'xdp_x': BPF program load failed: Permission denied",
  // then the verifier log between "-- BEGIN PROG LOAD LOG --" and "-- END PROG LOAD LOG --".
  let prog: string | undefined;
  for (const l of lines) {
    const m = /prog '([^']+)': (?:BPF program load failed|failed to load)/.exec(l);
    if (m) {
      prog = m[1];
      break;
    }
  }
  const begin = lines.findIndex((l) => l.includes('BEGIN PROG LOAD LOG'));
  const end = lines.findIndex((l, i) => i > begin && l.includes('END PROG LOAD LOG'));
  let tail: string[];
  if (begin >= 0) tail = lines.slice(begin + 1, end > begin ? end : undefined).filter((l) => l.trim() !== '');
  else tail = lines.filter((l) => l.trim() !== '');
  tail = tail.slice(-VERIFIER_TAIL_LINES);
  const what = prog ? `program ${prog} of BPF object ${objName} (${path})` : `BPF object ${objName} (${path})`;
  let head = `Cannot load ${what}: ${L.strerror(rc)} (errno ${Math.abs(rc)})`;
  for (const l of lines) {
    const m = /couldn't reuse pinned map at '([^']+)': parameter mismatch/.exec(l);
    if (m) head = `Cannot load ${what}: the map pinned at ${m[1]} does not match the object's definition (type, sizes or flags differ; remove the pin to recreate it)`;
  }
  const label = begin >= 0 ? 'verifier log (tail)' : 'libbpf output (tail)';
  return new DifwError('DIFW_E_BPF_LOAD', tail.length ? `${head}\n${label}:\n${tail.join('\n')}` : head);
}

/**
 * Run a netlink attach/detach and, when it fails, add the kernel's extack text (libbpf prints
 * it as "Kernel error message: ...") to the DifwError so the caller sees why.
 */
function withKernelMessage<T>(fn: () => T): T {
  const { result, error, lines } = L.captureLibbpfOutput(fn);
  if (lines.length) {
    const log = logger('libbpf');
    for (const l of lines) log.debug(l);
  }
  if (error === undefined) return result as T;
  const ext = lines.map((l) => /Kernel error message: (.*)$/.exec(l)?.[1]).filter((x): x is string => !!x);
  if (ext.length && error instanceof DifwError) {
    const e = new DifwError(error.code, `${error.message} (kernel: ${ext.join('; ')})`, { cause: error });
    throw e;
  }
  throw error;
}

export type XdpMode = 'native' | 'generic';
export type TcDir = 'ingress' | 'egress';

export interface TcOptions {
  /** tc filter handle (default 1). */
  handle?: number;
  /** tc filter priority (default 1). */
  priority?: number;
}

const tcPoint = (dir: TcDir) => (dir === 'ingress' ? L.BPF_TC_INGRESS : L.BPF_TC_EGRESS);

export class BpfProgram {
  readonly name: string;
  readonly object: BpfObject;
  #h: L.ProgHandle;
  #closed = false;

  /** @internal use BpfObject.program(). */
  constructor(object: BpfObject, name: string, h: L.ProgHandle) {
    this.object = object;
    this.name = name;
    this.#h = h;
  }

  #handle(): L.ProgHandle {
    if (this.#closed) throw new DifwError('DIFW_E_BPF_ATTACH', `Cannot use BPF program ${this.name}: its object was closed`);
    return this.#h;
  }

  /** @internal */
  markClosed(): void {
    this.#closed = true;
  }

  get fd(): number {
    const fd = L.progFd(this.#handle());
    if (fd < 0) throw new DifwError('DIFW_E_BPF_ATTACH', `Cannot use BPF program ${this.name}: its object is not loaded`);
    return fd;
  }

  get section(): string {
    return L.progDesc(this.#handle()).section;
  }

  /**
   * Attach to an interface's XDP hook (netlink). Replaces any program already attached in the
   * same mode atomically unless `replace: false` (then fails with EBUSY if one is present).
   * Mode default: the mode of the program already attached (so the replacement stays atomic),
   * else native if the driver supports it, else generic (the kernel's choice).
   */
  attachXdp(ifindex: number, opts: { mode?: XdpMode; replace?: boolean } = {}): void {
    let flags = opts.mode === 'generic' ? L.XDP_FLAGS_SKB_MODE : opts.mode === 'native' ? L.XDP_FLAGS_DRV_MODE : 0;
    if (!opts.mode) {
      const q = withKernelMessage(() => L.xdpQuery(ifindex));
      if (q.drvProgId) flags = L.XDP_FLAGS_DRV_MODE;
      else if (q.skbProgId) flags = L.XDP_FLAGS_SKB_MODE;
    }
    if (opts.replace === false) flags |= L.XDP_FLAGS_UPDATE_IF_NOEXIST;
    const fd = this.fd;
    withKernelMessage(() => L.xdpAttach(ifindex, fd, flags, () => `attach XDP program ${this.name} to ifindex ${ifindex}${opts.mode ? ` (${opts.mode} mode)` : ''}`));
  }

  /** Detach whatever XDP program is attached to `ifindex` (any mode); no-op when none is. */
  detachXdp(ifindex: number): void {
    BpfProgram.detachXdpFrom(ifindex);
  }

  static detachXdpFrom(ifindex: number): void {
    withKernelMessage(() => {
      const q = L.xdpQuery(ifindex);
      const what = () => `detach XDP program from ifindex ${ifindex}`;
      if (q.skbProgId) L.xdpDetach(ifindex, L.XDP_FLAGS_SKB_MODE, what);
      if (q.drvProgId) L.xdpDetach(ifindex, L.XDP_FLAGS_DRV_MODE, what);
      if (q.hwProgId) L.xdpDetach(ifindex, L.XDP_FLAGS_HW_MODE, what);
    });
  }

  /** Id of the XDP program attached to `ifindex` (native first, then generic), 0 if none. */
  static xdpAttachedId(ifindex: number): number {
    const q = withKernelMessage(() => L.xdpQuery(ifindex));
    return q.progId || q.drvProgId || q.skbProgId || q.hwProgId;
  }

  /** Kernel id of this program (bpf_prog_info.id). */
  get id(): number {
    return L.objId(this.fd);
  }

  /**
   * Attach as a TC classifier (direct-action) on the clsact qdisc, created if missing. An
   * existing filter at the same handle/priority is replaced atomically.
   */
  attachTc(ifindex: number, dir: TcDir, opts: TcOptions = {}): void {
    const point = tcPoint(dir);
    const fd = this.fd;
    withKernelMessage(() => {
      L.tcHookCreate(ifindex, point);
      L.tcAttach(ifindex, point, fd, opts.handle ?? 1, opts.priority ?? 1, L.BPF_TC_F_REPLACE, () => `attach TC program ${this.name} to ${dir} of ifindex ${ifindex}`);
    });
  }

  /** Remove the TC filter at handle/priority; no-op when it is not there. */
  detachTc(ifindex: number, dir: TcDir, opts: TcOptions = {}): void {
    BpfProgram.detachTcFrom(ifindex, dir, opts);
  }

  static detachTcFrom(ifindex: number, dir: TcDir, opts: TcOptions = {}): void {
    const point = tcPoint(dir);
    const handle = opts.handle ?? 1;
    const priority = opts.priority ?? 1;
    withKernelMessage(() => {
      if (!L.tcQuery(ifindex, point, handle, priority)) return;
      L.tcDetach(ifindex, point, handle, priority, () => `detach TC program from ${dir} of ifindex ${ifindex}`);
    });
  }

  /**
   * Attach to the TCX hook of an interface (kernel 6.6+) through a BPF link pinned at
   * `pinPath`, so the attachment outlives this process. A link already pinned there for this
   * interface and direction is adopted: its program is swapped atomically (an agent restart
   * never leaves the interface unfiltered). A pin left by a gone interface is replaced.
   * TCX runs before any clsact filter and skips the per-packet classifier layer.
   */
  attachTcx(ifindex: number, dir: TcDir, pinPath: string): void {
    const type = dir === 'ingress' ? L.BPF_TCX_INGRESS : L.BPF_TCX_EGRESS;
    const what = () => `attach TCX program ${this.name} to ${dir} of ifindex ${ifindex}`;
    if (existsSync(pinPath)) {
      const old = L.objGet(pinPath);
      try {
        const info = L.tcxLinkInfo(old);
        if (info.ifindex === ifindex && info.attachType === type) {
          withKernelMessage(() => L.linkUpdate(old, this.fd, what));
          return;
        }
      } finally {
        closeSync(old);
      }
      rmSync(pinPath, { force: true }); // another (gone) interface's link
    }
    const fd = withKernelMessage(() => L.tcxLinkCreate(this.fd, ifindex, type, what));
    try {
      mkdirSync(dirname(pinPath), { recursive: true, mode: 0o700 });
      L.objPin(fd, pinPath);
    } catch (e) {
      L.linkDetachFd(fd, what);
      throw e;
    } finally {
      closeSync(fd);
    }
  }

  /** Detach the TCX link pinned at `pinPath` (no-op when there is none) and remove the pin. */
  static detachTcxAt(pinPath: string): void {
    if (!existsSync(pinPath)) return;
    const fd = L.objGet(pinPath);
    try {
      // a link whose interface is gone is already detached (and answers ENOLINK)
      if (L.tcxLinkInfo(fd).ifindex !== 0) withKernelMessage(() => L.linkDetachFd(fd, () => `detach TCX link ${pinPath}`));
    } finally {
      closeSync(fd);
      rmSync(pinPath, { force: true });
    }
  }

  /** Program id behind the TCX link pinned at `pinPath` on a live interface, 0 if none. */
  static tcxAttachedId(pinPath: string): number {
    if (!existsSync(pinPath)) return 0;
    const fd = L.objGet(pinPath);
    try {
      const info = L.tcxLinkInfo(fd);
      return info.ifindex ? info.progId : 0;
    } finally {
      closeSync(fd);
    }
  }

  /** Id of the TC program at handle/priority, 0 if none. */
  static tcAttachedId(ifindex: number, dir: TcDir, opts: TcOptions = {}): number {
    return withKernelMessage(() => L.tcQuery(ifindex, tcPoint(dir), opts.handle ?? 1, opts.priority ?? 1));
  }

  /**
   * Attach a BPF_PROG_TYPE_NETFILTER program to a netfilter hook of the current network
   * namespace (pf: 2 = IPv4, 10 = IPv6; hooknum: 3 = LOCAL_OUT ...). Returns the link fd:
   * the hook stays while the fd is open or the link is pinned (`pinFd`).
   */
  attachNetfilter(pf: number, hooknum: number, priority: number): number {
    return L.netfilterLinkCreate(this.fd, pf, hooknum, priority, () => `attach netfilter program ${this.name} (pf ${pf}, hook ${hooknum})`);
  }

  /** Pin a link fd (from attachNetfilter) on a bpffs; close the fd with fs.closeSync. */
  static pinLinkFd(fd: number, path: string): void {
    L.objPin(fd, path);
  }

  /** Attach to a cgroup v2 directory through a BPF link (sockops, cgroup/sock*, sock_addr ...). */
  attachCgroup(cgroupPath: string): BpfLink {
    let fd: number;
    try {
      fd = openSync(cgroupPath, 'r');
    } catch (e) {
      throw new DifwError('DIFW_E_BPF_ATTACH', `Cannot open cgroup ${cgroupPath}: ${(e as Error).message}`, { cause: e });
    }
    try {
      return new BpfLink(withKernelMessage(() => L.attachCgroup(this.#handle(), fd, () => `attach BPF program ${this.name} to cgroup ${cgroupPath}`)), `${this.name}@${cgroupPath}`);
    } finally {
      closeSync(fd);
    }
  }

  /** Attach to a tracepoint (category/name, as under /sys/kernel/tracing/events). */
  attachTracepoint(category: string, name: string): BpfLink {
    // libbpf resolves the tracepoint id through tracefs; say so when tracefs is not mounted.
    const hint = tracefsMounted() ? '' : ' (tracefs is not mounted at /sys/kernel/tracing; raw tracepoints do not need it)';
    return new BpfLink(withKernelMessage(() => L.attachTracepoint(this.#handle(), category, name, () => `attach BPF program ${this.name} to tracepoint ${category}/${name}${hint}`)), `${this.name}@${category}/${name}`);
  }

  /** Attach to a raw tracepoint by name. */
  attachRawTracepoint(name: string): BpfLink {
    return new BpfLink(withKernelMessage(() => L.attachRawTracepoint(this.#handle(), name, () => `attach BPF program ${this.name} to raw tracepoint ${name}`)), `${this.name}@raw:${name}`);
  }

  /** Attach by section name (tp/..., raw_tp/..., tp_btf/..., fentry/..., kprobe/...). */
  attach(): BpfLink {
    return new BpfLink(withKernelMessage(() => L.attachAuto(this.#handle(), () => `attach BPF program ${this.name} (section ${this.section})`)), this.name);
  }

  /**
   * Run the program once (or `repeat` times) on `data` with BPF_PROG_TEST_RUN. `durationNs` is
   * the kernel's average per run. `data` is the program's output packet.
   */
  testRun(opts: { data: Buffer; repeat?: number; ctxIn?: Buffer; dataOutSize?: number }): { retval: number; data: Buffer; durationNs: number } {
    const out = Buffer.alloc(opts.dataOutSize ?? opts.data.length + 512);
    const r = L.progTestRun(this.fd, opts.data, out, opts.ctxIn ?? null, opts.repeat ?? 1, () => `test-run BPF program ${this.name}`);
    return { retval: r.retval, data: Buffer.from(out.subarray(0, Math.min(r.dataSizeOut, out.length))), durationNs: r.durationNs };
  }
}

export class BpfLink {
  readonly description: string;
  #h: L.LinkHandle | null;

  /** @internal */
  constructor(h: L.LinkHandle, description: string) {
    this.#h = h;
    this.description = description;
  }

  /** Open a link pinned at `path` (e.g. by a previous process). */
  static openPinned(path: string): BpfLink {
    return new BpfLink(L.linkOpenPinned(path), path);
  }

  #handle(): L.LinkHandle {
    if (!this.#h) throw new DifwError('DIFW_E_BPF_ATTACH', `Cannot use BPF link ${this.description}: it was destroyed`);
    return this.#h;
  }

  get fd(): number {
    return L.linkFd(this.#handle());
  }

  /** Pin on a bpffs: the attachment then survives this process. */
  pin(path: string): void {
    L.linkPin(this.#handle(), path);
  }

  unpin(): void {
    L.linkUnpin(this.#handle());
  }

  /** Detach the program from its hook now (the link object stays until destroy). */
  detach(): void {
    L.linkDetach(this.#handle());
  }

  /** Free the link: detaches unless pinned (a pinned link stays attached until unpinned). */
  destroy(): void {
    if (!this.#h) return;
    L.linkDestroy(this.#h);
    this.#h = null;
  }
}
