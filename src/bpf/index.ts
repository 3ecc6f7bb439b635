/**
 * Public surface of the BPF binding: everything outside src/bpf imports from here. No FFI type
 * or pointer is exported; maps deal in Buffers (or codecs through TypedMap), programs and links
 * in plain methods.
 */
export { BpfObject, BpfProgram, BpfLink, type OpenOptions, type XdpMode, type TcDir, type TcOptions } from './object.js';
export { BpfMap, TypedMap, MapType, perCpuStride, splitPerCpu, type UpdateFlag } from './map.js';
export { RingBuffer } from './ringbuf.js';
export { libbpfVersion, numPossibleCpus, recentLibbpfOutput, bpfUnavailableReason, LibbpfError } from './libbpf.js';
export * from './codec.js';
