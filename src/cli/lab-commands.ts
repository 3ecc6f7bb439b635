/**
 * `difw lab up|status|exec|down` and the hidden `difw lab-agent` (a lab node's agent, started by
 * `lab up` inside the node's netns).
 * The control plane is imported inside the actions: `lab exec` and `lab status` load only the
 * lab state code, so they start fast.
 */
import { readFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import type { Command } from 'commander';
import { DifwError } from '../errors.js';
import { labConfig } from '../lab/config.js';
import { readLab, requireLab, findPod, type LabState } from '../lab/state.js';

function requireRoot(): void {
  if (process.getuid && process.getuid() !== 0) throw new DifwError('DIFW_E_NOT_ROOT', 'Cannot run the lab: you need to be root');
}

export function readInput(file: string): string {
  try {
    return file === '-' ? readFileSync(0, 'utf8') : readFileSync(file, 'utf8');
  } catch (e) {
    throw new DifwError('DIFW_E_USAGE', `Cannot read ${file}: ${(e as Error).message}`, { cause: e });
  }
}

export function statusJson(lab: LabState | null): unknown {
  if (!lab) return { nodes: [], fabric: null, pods: [] };
  return {
    name: lab.name,
    phase: lab.phase,
    nodes: lab.nodes.map((n) => ({ name: n.name, netns: n.netns, fabricIp: n.fabricIp, fabricPrefix: n.fabricPrefix, id: n.id, agentPid: n.agentPid, socket: n.socket })),
    fabric: lab.fabric,
    pods: lab.pods.map((p) => ({ namespace: p.namespace, name: p.name, node: p.node, ip: p.ip, netns: p.netns, cgroup: p.cgroup, hostIf: p.hostIf })),
  };
}

/** Run argv in the pod's netns and cgroup; resolves with the exit status to propagate. */
export function execInPod(lab: LabState, target: string, argv: string[]): Promise<number> {
  const m = /^([^/]+)\/([^/]+)$/.exec(target);
  if (!m) throw new DifwError('DIFW_E_USAGE', `Cannot exec in "${target}": expected NAMESPACE/POD`);
  const pod = findPod(lab, m[1]!, m[2]!);
  if (!pod) throw new DifwError('DIFW_E_LAB', `Cannot exec in ${target}: no such pod in the lab`);
  if (!argv.length) throw new DifwError('DIFW_E_USAGE', 'Cannot exec: no command given (difw lab exec NS/POD -- CMD ...)');
  // sh joins the pod cgroup (its pid stays the same through the execs), nsenter switches to the
  // pod netns, setpriv makes the command die with us (so killing `difw lab exec` kills it).
  const script = 'echo $$ > "$1/cgroup.procs" || exit 125; ns=$2; shift 2; exec nsenter --net="$ns" -- setpriv --pdeathsig KILL -- "$@"';
  const child = spawn('sh', ['-c', script, 'difw-lab-exec', pod.cgroup, `/run/netns/${pod.netns}`, ...argv], { stdio: 'inherit' });
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, () => child.kill(sig));
  return new Promise((resolve) => {
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 + (({ SIGKILL: 9, SIGTERM: 15, SIGINT: 2, SIGHUP: 1 } as Record<string, number>)[signal] ?? 1) : 1)));
    child.on('error', () => resolve(127));
  });
}

export function registerLabCommands(program: Command): void {
  const lab = program.command('lab').description('a cluster simulated in network namespaces (identity mode)');

  lab
    .command('up')
    .description('build the lab described by a Lab object plus Namespaces and Pods; returns once it enforces')
    .requiredOption('-f, --file <file>', 'multi-document YAML (or - for stdin)')
    .action(async (o: { file: string }) => {
      requireRoot();
      const [{ parseObjects }, { labController }] = await Promise.all([import('../controlplane/objects.js'), import('../lab/runtime.js')]);
      const objs = parseObjects(readInput(o.file), o.file);
      const t0 = Date.now();
      const s = await labController().up(objs);
      process.stdout.write(`lab ${s.name} up: ${s.nodes.length} nodes, ${s.pods.length} pods, enforcing (${Date.now() - t0} ms)\n`);
    });

  lab
    .command('status')
    .description('show the lab')
    .option('--json', 'machine-readable output')
    .action((o: { json?: boolean }) => {
      const s = readLab(labConfig());
      if (o.json) {
        process.stdout.write(JSON.stringify(statusJson(s), null, 1) + '\n');
        return;
      }
      if (!s) {
        process.stdout.write('no lab\n');
        return;
      }
      const lines = [`lab ${s.name} (${s.phase})`, `fabric: netns ${s.fabric.netns}, bridge ${s.fabric.bridge}`, 'nodes:'];
      for (const n of s.nodes) lines.push(`  ${n.name}  netns ${n.netns}  ${n.fabricIp}/${n.fabricPrefix}  agent pid ${n.agentPid ?? '-'}`);
      lines.push('pods:');
      for (const p of s.pods) lines.push(`  ${p.namespace}/${p.name}  ${p.ip}  on ${p.node}  netns ${p.netns}`);
      process.stdout.write(lines.join('\n') + '\n');
    });

  lab
    .command('exec')
    .description("run a command in a pod's network namespace and cgroup")
    .argument('<pod>', 'NAMESPACE/POD')
    .argument('[command...]', 'the command, after --')
    .allowUnknownOption()
    .action(async (target: string, argv: string[]) => {
      requireRoot();
      const s = requireLab(labConfig());
      process.exitCode = await execInPod(s, target, argv);
    });

  lab
    .command('rotate-keys')
    .description('rotate the identity-claim keys on every node, without dropping connections')
    .action(async () => {
      requireRoot();
      const { labController } = await import('../lab/runtime.js');
      const r = await labController().rotateKeys();
      process.stdout.write(`claim keys rotated: epoch ${r.from} -> ${r.to}, enforced on every node\n`);
    });

  lab
    .command('down')
    .description('remove everything the lab made')
    .action(async () => {
      requireRoot();
      const { labController } = await import('../lab/runtime.js');
      const problems = await labController().down();
      if (problems.length) throw new DifwError('DIFW_E_LAB', `Cannot remove the whole lab: ${problems.join('; ')}`);
      process.stdout.write('lab down\n');
    });

  program
    .command('lab-agent', { hidden: true })
    .description('run a lab node agent (started by `difw lab up`)')
    .requiredOption('--node <name>')
    .requiredOption('--node-id <n>')
    .requiredOption('--lab-dir <dir>')
    .requiredOption('--socket <path>')
    .requiredOption('--bpffs <path>')
    .requiredOption('--cgroup <path>')
    .action(async (o: { node: string; nodeId: string; labDir: string; socket: string; bpffs: string; cgroup: string }) => {
      const { runLabNodeAgent } = await import('../agent/lab-node.js');
      await runLabNodeAgent({ node: o.node, nodeId: Number(o.nodeId), labDir: o.labDir, socket: o.socket, bpffs: o.bpffs, cgroup: o.cgroup });
    });
}
