/** Remove the datapath of this namespace when no agent is alive to do it (after a kill -9). */
import { existsSync, rmSync } from 'node:fs';
import { Datapath } from '../datapath/loader.js';
import { logger } from '../log.js';
import { BPF_OBJ_DIR, type NetnsPaths } from '../state/paths.js';
import { firewallLinks } from './links.js';

export async function detachAll(paths: NetnsPaths): Promise<void> {
  if (!existsSync(paths.pinDir)) return;
  const dp = await Datapath.load({ pinDir: paths.pinDir, objDir: BPF_OBJ_DIR, logger: logger('detach') });
  for (const l of firewallLinks()) {
    try {
      dp.detach(l.ifindex);
    } catch {
      /* not attached there */
    }
  }
  dp.close();
  rmSync(paths.pinDir, { recursive: true, force: true });
}
