/**
 * Test helper process for route (FORWARD chain) decisions: runs inside a network namespace the
 * test made, with forwarding enabled and two veth interfaces; loads the datapath, applies the
 * state from STATEFILE, then test-runs the XDP program on each frame of CASESFILE as if it
 * arrived on the given interface, and prints one JSON line of verdicts ('pass'|'drop'|'reject').
 * XDP test runs take the ingress interface from the xdp_md context, so bpf_fib_lookup sees the
 * namespace's real routes.
 */
import { readFileSync, rmSync } from 'node:fs';
import { Datapath } from '../../src/datapath/loader.js';
import { compileFirewall } from '../../src/policy/ufw-compile.js';
import { logger } from '../../src/log.js';

const [pinDir, stateFile, casesFile] = process.argv.slice(2);
if (!pinDir || !stateFile || !casesFile) {
  process.stderr.write('usage: fwd-child PINDIR STATEFILE CASESFILE\n');
  process.exit(2);
}
const ifindex = (n: string) => {
  try {
    return Number(readFileSync(`/sys/class/net/${n}/ifindex`, 'utf8'));
  } catch {
    return undefined;
  }
};
const dp = await Datapath.load({ pinDir, objDir: 'build', logger: logger('fwd-child') });
try {
  dp.apply(compileFirewall(JSON.parse(readFileSync(stateFile, 'utf8')), { ifindex }));
  const cases: Array<{ iface: string; frame: string }> = JSON.parse(readFileSync(casesFile, 'utf8'));
  const out: string[] = [];
  for (const c of cases) {
    const data = Buffer.from(c.frame, 'hex');
    const ctx = Buffer.alloc(24);
    ctx.writeUInt32LE(data.length, 4); // data_end
    ctx.writeUInt32LE(ifindex(c.iface)!, 12); // ingress_ifindex
    const r = dp.program('xdp').testRun({ data, ctxIn: ctx });
    out.push(r.retval === 1 ? 'drop' : r.data.length === data.length + 8 ? 'reject' : 'pass');
  }
  process.stdout.write(JSON.stringify({ verdicts: out, forwarded: Number(dp.stats().forwarded) }) + '\n');
} finally {
  dp.close();
  rmSync(pinDir, { recursive: true, force: true });
}
