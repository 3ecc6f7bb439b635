/**
 * Error-code registry. Every error difw raises on purpose has a stable code, so callers (the
 * CLI, the agent API, tests) can branch on `err.code` instead of matching message text.
 * Messages follow the "Cannot …" convention unless ufw compatibility dictates the exact text.
 */
export const ErrorCodes = {
  DIFW_E_USAGE: 'invalid command line',
  DIFW_E_NOT_ROOT: 'must run as root',
  DIFW_E_BPF_LOAD: 'BPF object failed to load',
  DIFW_E_BPF_ATTACH: 'BPF program failed to attach',
  DIFW_E_BPF_MAP: 'BPF map operation failed',
  DIFW_E_BPF_SYSCALL: 'BPF syscall failed',
  DIFW_E_STATE: 'state file unreadable or invalid',
  DIFW_E_LOCK: 'state lock unavailable',
  DIFW_E_AGENT: 'agent unreachable or failed',
  DIFW_E_POLICY: 'policy invalid',
  DIFW_E_LAB: 'lab operation failed',
  DIFW_E_CAPACITY: 'datapath capacity exceeded',
  DIFW_E_CONFIG: 'agent setting invalid',
} as const;

export type ErrorCode = keyof typeof ErrorCodes;

export class DifwError extends Error {
  readonly code: ErrorCode;
  /** Process exit status the CLI uses when this error reaches it (ufw uses 1). */
  readonly exitCode: number;
  constructor(code: ErrorCode, message: string, opts: { cause?: unknown; exitCode?: number } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'DifwError';
    this.code = code;
    this.exitCode = opts.exitCode ?? 1;
  }
}

export function isDifwError(e: unknown, code?: ErrorCode): e is DifwError {
  return e instanceof DifwError && (code === undefined || e.code === code);
}
