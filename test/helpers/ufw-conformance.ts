/**
 * The public ufw command-line conformance data (../shared/conformance/ufw-cli-public.json), when
 * the shared checkout is next to the repository. Tests that use it skip when it is absent.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface AcceptCase {
  cmd: string;
  numbered_lines?: string[];
  verbose_lines?: string[];
  status_lines?: string[];
  output?: string[];
  precondition?: string;
}
export interface RejectCase {
  cmd: string;
  error: string;
  precondition?: string;
}
export interface SequenceCase {
  name: string;
  setup: string[];
  cmd: string;
  output: string[];
  numbered_after?: string[];
}
export interface CliConformance {
  accept: AcceptCase[];
  reject: RejectCase[];
  sequences: SequenceCase[];
}

const here = dirname(fileURLToPath(import.meta.url));
// dist/test/helpers -> repository root -> ../shared
const candidates = [process.env.DIFW_SHARED, resolve(here, '../../../../shared'), resolve(here, '../../../shared')].filter(Boolean) as string[];

export function loadCliConformance(): CliConformance | null {
  for (const c of candidates) {
    const f = join(c, 'conformance', 'ufw-cli-public.json');
    if (existsSync(f)) return JSON.parse(readFileSync(f, 'utf8')) as CliConformance;
  }
  return null;
}
