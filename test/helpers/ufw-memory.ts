/**
 * Run ufw command lines against an in-memory FirewallState (no root, no files, no agent):
 * the same parse + edit path the CLI uses, minus saving and the datapath. For unit tests.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultState } from '../../src/state/store.js';
import type { FirewallState } from '../../src/ufw/model.js';
import { UfwError, UfwSyntaxError, parseUfwArgs, shellSplit } from '../../src/ufw/grammar.js';
import { loadProfiles, type ProfileSet } from '../../src/ufw/apps.js';
import { applyMutation } from '../../src/cli/ufw-commands.js';
import { renderStatus, renderShowAdded } from '../../src/ufw/status.js';

/** ufw's own test profile set, as the public conformance data assumes (Apache, Samba, Bind9, ...). */
export const TEST_PROFILES = `[Apache]
title=Web Server
description=Apache v2 is the next generation of the omnipresent Apache web server.
ports=80/tcp

[Apache Secure]
title=Web Server (HTTPS)
description=Apache v2 is the next generation of the omnipresent Apache web server.
ports=443/tcp

[Apache Full]
title=Web Server (HTTP,HTTPS)
description=Apache v2 is the next generation of the omnipresent Apache web server.
ports=80,443/tcp

[Bind9]
title=Internet Domain Name Server
description=BIND v9 is the most widely used DNS server on the Internet.
ports=53

[Samba]
title=LanManager-like file and printer server for Unix
description=The Samba software suite is a collection of programs that implements the SMB/CIFS protocol for unix systems.
ports=137,138/udp|139,445/tcp

[SSH]
title=SSH server
description=SSH server
ports=22/tcp

[OpenNTPD]
title=OpenNTPD
description=An NTP daemon
ports=123/udp
`;

export function testProfiles(): ProfileSet {
  const dir = mkdtempSync(join(tmpdir(), 'difw-apps-'));
  writeFileSync(join(dir, 'test-profiles'), TEST_PROFILES);
  return loadProfiles(dir);
}

export interface SimResult {
  ok: boolean;
  /** stdout-like text, or the error message after "ERROR: ". */
  text: string;
  warnings: string[];
}

export class UfwSim {
  state: FirewallState;
  constructor(
    readonly profiles: ProfileSet = testProfiles(),
    init?: Partial<FirewallState>,
  ) {
    this.state = { ...defaultState(), ...init };
  }

  /** Run one command line (with or without the leading "ufw"); state-changing commands only. */
  run(line: string): SimResult {
    let words = shellSplit(line);
    if (words[0] === 'ufw') words = words.slice(1);
    const before = structuredClone(this.state);
    try {
      const parsed = parseUfwArgs(words);
      const cmd = parsed.command;
      if (cmd.kind === 'basic' && (cmd.action === 'enable' || cmd.action === 'disable')) {
        this.state.enabled = cmd.action === 'enable';
        return { ok: true, text: '', warnings: [] };
      }
      if (cmd.kind === 'status') {
        return { ok: true, text: renderStatus(this.state, cmd.mode, { forwarding: false }), warnings: [] };
      }
      if (cmd.kind === 'show') return { ok: true, text: renderShowAdded(this.state), warnings: [] };
      const r = applyMutation(cmd, this.state, { profiles: this.profiles, dryRun: parsed.dryRun });
      return { ok: true, text: r.output, warnings: r.warnings };
    } catch (e) {
      this.state = before; // a failed command changes nothing
      if (e instanceof UfwError || e instanceof UfwSyntaxError) return { ok: false, text: e.message, warnings: [] };
      throw e;
    }
  }

  numbered(): string[] {
    return renderStatus(this.state, 'numbered', { forwarding: false }).split('\n');
  }
}
