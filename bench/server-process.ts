/**
 * A bench server running as a child process, so that the load client's CPU
 * is never counted in the server's. Speaks the protocol of servers/control.ts.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import type { Broadcast, ServerStats } from './servers/control';

/** The servers under test, by the name the report uses. */
export type ServerKind = 'raw' | 'rxjs-ws';

/** A variant of a server: its kind, the label in the report, and its flags. */
export interface ServerSpec {
  readonly kind: ServerKind;
  readonly label: string;
  readonly args?: readonly string[];
}

export const RAW: ServerSpec = { kind: 'raw', label: 'raw ws' };
export const RXJS_WS: ServerSpec = { kind: 'rxjs-ws', label: 'rxjs-ws' };
export const RAW_DEFLATE: ServerSpec = { kind: 'raw', label: 'raw ws deflate', args: ['--deflate'] };
export const RXJS_WS_DEFLATE: ServerSpec = { kind: 'rxjs-ws', label: 'rxjs-ws deflate', args: ['--deflate'] };
export const RXJS_WS_RESUME: ServerSpec = { kind: 'rxjs-ws', label: 'rxjs-ws resume', args: ['--resume'] };
export const RXJS_WS_METRICS: ServerSpec = { kind: 'rxjs-ws', label: 'rxjs-ws metrics', args: ['--metrics'] };
export const RXJS_WS_HUB: ServerSpec = { kind: 'rxjs-ws', label: 'rxjs-ws', args: ['--hub'] };
export const RXJS_WS_UNBATCHED: ServerSpec = { kind: 'rxjs-ws', label: 'rxjs-ws batchWrites off', args: ['--batch-writes=off'] };

const SCRIPTS: Record<ServerKind, string> = { raw: 'raw-ws.js', 'rxjs-ws': 'rxjs-ws.js' };
const START_TIMEOUT_MS = 10_000;
const REPLY_TIMEOUT_MS = 30_000;
const EXIT_TIMEOUT_MS = 3_000;

/** Where `--cpu-prof` profiles go, when profiling is on for this kind of server. */
export interface ProfileOptions {
  readonly kinds: readonly ServerKind[];
  readonly dir: string;
}

export class ServerProcess {
  readonly spec: ServerSpec;
  readonly port: number;
  readonly #child: ChildProcessByStdio<Writable, Readable, null>;
  readonly #waiting: Array<{ resolve: (reply: never) => void; reject: (err: Error) => void }> = [];
  #exit: Error | null = null;

  private constructor(spec: ServerSpec, child: ChildProcessByStdio<Writable, Readable, null>, port: number, lines: AsyncIterator<string>) {
    this.spec = spec;
    this.#child = child;
    this.port = port;
    child.once('exit', (code, signal) => {
      this.#exit = new Error(`${spec.label} server exited (code ${code}, signal ${signal})`);
      for (const w of this.#waiting.splice(0)) w.reject(this.#exit);
    });
    void this.#read(lines);
  }

  /** Starts the server and resolves once it listens. */
  static async start(spec: ServerSpec, profile?: ProfileOptions): Promise<ServerProcess> {
    const flags = ['--expose-gc'];
    if (profile?.kinds.includes(spec.kind)) flags.push('--cpu-prof', `--cpu-prof-dir=${profile.dir}`);
    const script = join(__dirname, 'servers', SCRIPTS[spec.kind]);
    const child = spawn(process.execPath, [...flags, script, ...(spec.args ?? [])], { stdio: ['pipe', 'pipe', 'inherit'] });
    const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
    try {
      const first = await withTimeout(lines.next(), START_TIMEOUT_MS, `${spec.label} server did not start`);
      const port = first.done === true ? undefined : (JSON.parse(first.value) as { port?: number }).port;
      if (typeof port !== 'number') throw new Error(`${spec.label} server did not report its port`);
      return new ServerProcess(spec, child, port, lines);
    } catch (err) {
      child.kill('SIGKILL');
      throw err;
    }
  }

  /** Usage counters; `mem` runs a full GC first (never during a throughput measurement). */
  stats(command: 'cpu' | 'mem'): Promise<ServerStats> {
    return this.#ask<ServerStats>(command);
  }

  /** Sends fan-out message `seq` (`size` bytes of text) to every socket the server holds, its own way. */
  broadcast(seq: number, size: number): Promise<Broadcast> {
    return this.#ask<Broadcast>(`broadcast ${seq} ${size}`);
  }

  #ask<T>(command: string): Promise<T> {
    if (this.#exit !== null) return Promise.reject(this.#exit);
    const reply = new Promise<T>((resolve, reject) => this.#waiting.push({ resolve: resolve as (reply: never) => void, reject }));
    this.#child.stdin.write(`${command}\n`);
    return withTimeout(reply, REPLY_TIMEOUT_MS, `${this.spec.label} server did not answer "${command}"`);
  }

  /** Throws if the server died (a crash fails the bench). */
  assertAlive(): void {
    if (this.#exit !== null) throw this.#exit;
  }

  /** Asks the server to exit (writing its CPU profile, if any); kills it if it does not. */
  async stop(): Promise<void> {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.#child.once('exit', () => resolve()));
    this.#exit ??= new Error(`${this.spec.label} server stopped`);
    this.#child.stdin.end('exit\n');
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), EXIT_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
  }

  /** Kills the server at once (the idle scenarios: no closing handshakes to wait for). */
  async kill(): Promise<void> {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.#child.once('exit', () => resolve()));
    this.#exit ??= new Error(`${this.spec.label} server killed`);
    this.#child.kill('SIGKILL');
    await exited;
  }

  async #read(lines: AsyncIterator<string>): Promise<void> {
    for (let line = await lines.next(); line.done !== true; line = await lines.next()) {
      const waiter = this.#waiting.shift();
      const reply = JSON.parse(line.value) as { error?: string };
      if (waiter === undefined) continue;
      if (reply.error !== undefined) waiter.reject(new Error(`${this.spec.label} server: ${reply.error}`));
      else waiter.resolve(reply as never);
    }
  }
}

/** Runs `body` with the servers started, and always stops them. */
export async function withServers<T>(
  specs: readonly ServerSpec[],
  profile: ProfileOptions | undefined,
  body: (servers: ServerProcess[]) => Promise<T>,
): Promise<T> {
  const servers: ServerProcess[] = [];
  try {
    for (const spec of specs) servers.push(await ServerProcess.start(spec, profile));
    return await body(servers);
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${message} within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
