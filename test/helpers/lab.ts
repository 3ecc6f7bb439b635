/**
 * Helpers for tests that drive a real `difw lab` through bin/difw, with the test prefix `dt`
 * (netns dt-*, bridge dtbr0, state /run/difw/lab-dt, cgroups difw-lab-dt) so a test lab never
 * touches a lab someone has up with the default prefix.
 */
import { spawnSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const DIFW = join(REPO, 'bin', 'difw');
export const PREFIX = process.env.DIFW_TEST_LAB_PREFIX ?? 'dt';
export const ENV = { ...process.env, DIFW_LAB_PREFIX: PREFIX };

export interface RunResult {
  status: number;
  stdout: string;
  stderr: string;
}

export function difw(args: string[], input?: string, timeoutMs = 120_000): RunResult {
  const r = spawnSync(DIFW, args, { input, encoding: 'utf8', env: ENV, timeout: timeoutMs });
  return { status: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

export function mustDifw(args: string[], input?: string): string {
  const r = difw(args, input);
  if (r.status !== 0) throw new Error(`difw ${args.join(' ')} failed (${r.status}): ${r.stdout}${r.stderr}`);
  return r.stdout;
}

/** Why lab tests cannot run here, or null. */
export function labSkipReason(): string | null {
  if (process.getuid?.() !== 0) return 'needs root (network namespaces, cgroups, BPF)';
  if (!existsSync(join(REPO, 'dist', 'src', 'cli', 'main.js'))) return 'needs a build (dist/src/cli/main.js)';
  if (spawnSync('ip', ['netns', 'list']).status !== 0) return 'needs iproute2 with netns support';
  return null;
}

export function yamlStream(objs: unknown[]): string {
  return objs.map((o) => JSON.stringify(o)).join('\n---\n') + '\n';
}

export function labObj(nodes: string[]): unknown {
  return { apiVersion: 'difw.io/v1', kind: 'Lab', metadata: { name: 'test' }, spec: { nodes: nodes.map((name) => ({ name })) } };
}

export function nsObj(name: string, labels: Record<string, string> = {}): unknown {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } };
}

export function podObj(ns: string, name: string, labels: Record<string, string>, ip: string, node: string, ports: number[] = [80]): unknown {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: ns, labels, annotations: { 'difw.io/node': node } },
    spec: { containers: [{ name: 'c', ports: ports.map((p) => ({ name: `tcp-${p}`, containerPort: p, protocol: 'TCP' })) }] },
    status: { podIP: ip },
  };
}

export interface LabStatus {
  nodes: { name: string; netns: string; fabricIp: string; fabricPrefix: number; id: number }[];
  fabric: { netns: string; bridge: string } | null;
  pods: { namespace: string; name: string; node: string; ip: string; netns: string; cgroup: string; hostIf: string }[];
}

export function status(): LabStatus {
  return JSON.parse(mustDifw(['lab', 'status', '--json'])) as LabStatus;
}

/** A TCP server in a pod that answers `reply` to every connection (bounded: exits with the test). */
export function startServer(pod: string, port: number, reply = 'hello'): Promise<ChildProcess> {
  const code = [
    'import socket,sys',
    's=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)',
    `s.bind(("0.0.0.0", ${port})); s.listen(128)`,
    'print("ready", flush=True)',
    'while True:',
    '    c,_=s.accept()',
    `    try: c.sendall(${JSON.stringify(reply + '\n')}.encode())`,
    '    except OSError: pass',
    '    c.close()',
  ].join('\n');
  const p = spawn(DIFW, ['lab', 'exec', pod, '--', 'python3', '-c', code], { env: ENV, stdio: ['ignore', 'pipe', 'ignore'] });
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`server in ${pod} did not start`)), 10_000);
    p.stdout!.once('data', () => {
      clearTimeout(t);
      resolve(p);
    });
    p.once('exit', () => reject(new Error(`server in ${pod} exited`)));
  });
}

/** Connect from a pod; returns what the server said, or null if the connection failed. */
export function connect(pod: string, ip: string, port: number, timeoutS = 1.5): string | null {
  const code = [
    'import socket,sys',
    `s=socket.create_connection((${JSON.stringify(ip)}, ${port}), timeout=${timeoutS})`,
    'sys.stdout.write(s.recv(100).decode())',
  ].join('\n');
  const r = difw(['lab', 'exec', pod, '--', 'python3', '-c', code], undefined, 20_000);
  return r.status === 0 ? r.stdout.trim() : null;
}

export function udpProbe(pod: string, ip: string, port: number, timeoutS = 1): boolean {
  const code = [
    'import socket',
    `s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(${timeoutS})`,
    `s.connect((${JSON.stringify(ip)}, ${port})); s.send(b"x"); s.recv(64)`,
  ].join('\n');
  return difw(['lab', 'exec', pod, '--', 'python3', '-c', code], undefined, 20_000).status === 0;
}

export function sh(cmd: string, args: string[], input?: string): RunResult {
  const r = spawnSync(cmd, args, { input, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

export function mustSh(cmd: string, args: string[], input?: string): string {
  const r = sh(cmd, args, input);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

/**
 * An attacker host on the lab fabric: netns <prefix>-atk (removed by `lab down` with the rest of
 * the prefix), plugged into the fabric bridge, with a fabric address and routes to the pod
 * networks via `via` (a node's fabric address).
 */
export function addFabricHost(st: LabStatus, via: string, octet = 99): { netns: string; ip: string; ifname: string } {
  const netns = `${PREFIX}-atk`;
  const fabIf = `${PREFIX}atk0`;
  const net = st.nodes[0]!.fabricIp.split('.').slice(0, 3).join('.');
  const ip = `${net}.${octet}`;
  sh('ip', ['netns', 'del', netns]);
  mustSh('ip', ['netns', 'add', netns]);
  mustSh('ip', ['-n', st.fabric!.netns, 'link', 'add', fabIf, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', netns]);
  mustSh('ip', ['-n', st.fabric!.netns, 'link', 'set', fabIf, 'master', st.fabric!.bridge, 'up']);
  mustSh('ip', ['-n', netns, '-batch', '-'], ['link set lo up', `addr add ${ip}/24 dev eth0`, 'link set eth0 up', `route add 198.19.0.0/16 via ${via} dev eth0`].join('\n') + '\n');
  return { netns, ip, ifname: 'eth0' };
}

/** A TCP echo server in a pod (line based). */
export function startEcho(pod: string, port: number): Promise<ChildProcess> {
  const code = [
    'import socket,threading',
    's=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)',
    `s.bind(("0.0.0.0", ${port})); s.listen(16)`,
    'print("ready", flush=True)',
    'def serve(c):',
    '    f=c.makefile("rwb")',
    '    for line in f:',
    '        f.write(line); f.flush()',
    'while True:',
    '    c,_=s.accept(); threading.Thread(target=serve, args=(c,), daemon=True).start()',
  ].join('\n');
  const p = spawn(DIFW, ['lab', 'exec', pod, '--', 'python3', '-c', code], { env: ENV, stdio: ['ignore', 'pipe', 'ignore'] });
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`echo server in ${pod} did not start`)), 10_000);
    p.stdout!.once('data', () => {
      clearTimeout(t);
      resolve(p);
    });
    p.once('exit', () => reject(new Error(`echo server in ${pod} exited`)));
  });
}

/** One connection kept open for `seconds`, a line echoed every 100 ms; resolves "ok N" or "error …". */
export function longClient(pod: string, ip: string, port: number, seconds: number): Promise<string> {
  const code = [
    'import socket,time',
    'n=0',
    'try:',
    `    s=socket.create_connection((${JSON.stringify(ip)}, ${port}), timeout=2); f=s.makefile("rwb")`,
    `    end=time.time()+${seconds}`,
    '    while time.time()<end:',
    '        f.write(b"ping\\n"); f.flush()',
    '        assert f.readline()==b"ping\\n"',
    '        n+=1; time.sleep(0.1)',
    '    print("ok", n)',
    'except Exception as e:',
    '    print("error after", n, "echoes:", repr(e))',
  ].join('\n');
  const p = spawn(DIFW, ['lab', 'exec', pod, '--', 'python3', '-c', code], { env: ENV, stdio: ['ignore', 'pipe', 'ignore'] });
  let out = '';
  p.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  return new Promise((resolve) => {
    const t = setTimeout(() => p.kill('SIGKILL'), (seconds + 10) * 1000);
    p.on('exit', () => {
      clearTimeout(t);
      resolve(out.trim() || 'error: no output');
    });
  });
}
