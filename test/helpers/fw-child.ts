/**
 * Test helper process: runs inside a network namespace (`ip netns exec NS node fw-child.js
 * PINDIR IFNAME STATEFILE [native|generic|tc]`), loads the host-firewall datapath, applies the firewall state from
 * STATEFILE, attaches to IFNAME, prints "ready" and keeps enforcing until stdin closes or it
 * gets SIGTERM; then it detaches and removes its pins. Only for interfaces the test created.
 */
import { readFileSync, rmSync } from 'node:fs';
import { Datapath } from '../../src/datapath/loader.js';
import { compileFirewall } from '../../src/policy/ufw-compile.js';
import { logger } from '../../src/log.js';

const [pinDir, ifname, stateFile, xdpMode] = process.argv.slice(2);
if (!pinDir || !ifname || !stateFile) {
  process.stderr.write('usage: fw-child PINDIR IFNAME STATEFILE\n');
  process.exit(2);
}
const ifindex = Number(readFileSync(`/sys/class/net/${ifname}/ifindex`, 'utf8'));
const dp = await Datapath.load({ pinDir, objDir: 'build', logger: logger('fw-child') });
const state = JSON.parse(readFileSync(stateFile, 'utf8'));
dp.apply(compileFirewall(state, { ifindex: (n) => (n === ifname ? ifindex : undefined) }));
dp.attach(ifindex, xdpMode === 'tc' ? { hook: 'tc' } : { hook: 'xdp', xdpMode: xdpMode === 'generic' ? 'generic' : 'native' });
let done = false;
const stop = () => {
  if (done) return;
  done = true;
  try {
    dp.detach(ifindex);
  } finally {
    process.stdout.write(`stats ${JSON.stringify(Object.fromEntries(Object.entries(dp.stats()).map(([k, v]) => [k, Number(v)])))}\n`);
    dp.close();
    rmSync(pinDir, { recursive: true, force: true });
    process.exit(0);
  }
};
process.on('SIGTERM', stop);
process.stdin.on('end', stop);
process.stdin.resume();
process.stdout.write('ready\n');
