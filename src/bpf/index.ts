/**
 * Public surface of the BPF binding: everything outside src/bpf imports from here. No FFI type
 * or pointer is exported; maps deal in Buffers (or codecs through TypedMap), programs and links
 * in plain methods. Every failure is a DifwError (DIFW_E_BPF_LOAD / _ATTACH / _MAP / _SYSCALL)
 * whose message starts with "Cannot …" and carries the errno text (and, for loads, the tail of
 * the verifier log; for netlink attaches, the kernel's extack message).
 *
 * Typical use:
 *   const obj = BpfObject.open('build/x.bpf.o', { pinRoot: paths.pinDir, logger });
 *   obj.load();                                   // pinned-by-name maps are created or adopted
 *   const rules = new TypedMap(obj.map('rules'), ruleKey, ruleVal);
 *   rules.setMany(entries);                       // one bpf_map_update_batch syscall
 *   obj.program('xdp_main').attachXdp(ifindex);   // netlink: survives close() and process exit
 *   obj.program('tc_main').attachTc(ifindex, 'egress', { handle: 1, priority: 1 });
 *   const rb = new RingBuffer(obj.map('events'), (rec) => …); rb.start(); … rb.stop();
 *   obj.close();                                  // XDP/TC stay attached; pinned maps stay
 *
 * Lifetimes: map and program wrappers die with their object (use after close() throws); maps
 * opened with BpfMap.openPinned own their fd until close(); cgroup/tracepoint BpfLinks detach
 * on destroy() or process exit unless pinned.
 */
export { BpfObject, BpfProgram, BpfLink, type OpenOptions, type XdpMode, type TcDir, type TcOptions } from './object.js';
export { BpfMap, TypedMap, MapType, perCpuStride, splitPerCpu, type UpdateFlag } from './map.js';
export { RingBuffer } from './ringbuf.js';
export { libbpfVersion, numPossibleCpus, recentLibbpfOutput, bpfUnavailableReason, LibbpfError, enableRunTimeStats } from './libbpf.js';
export * from './codec.js';
