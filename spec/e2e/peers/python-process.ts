/**
 * The Python echo server (python_echo_server.py, on Debian's
 * python3-websockets, run with /usr/bin/python3) as a child process, with its
 * JSON lines, for the interop suites; and the Python clients' runs.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const PYTHON = '/usr/bin/python3';
const SERVER_PY = join(__dirname, 'python_echo_server.py');

export interface PythonServer {
  readonly port: number;
  /** `ws://127.0.0.1:PORT/ws`. */
  readonly url: string;
  /** Every JSON line so far. */
  readonly events: Array<Record<string, unknown>>;
  /** The next `event` line after the ones this helper already handed out (waits up to 10 s). */
  next(event: string): Promise<Record<string, unknown>>;
  kill(signal: NodeJS.Signals): Promise<void>;
}

/** Runs `/usr/bin/python3 ...args` to its end (45 s at most) and resolves with its exit code and output. */
export function runPython(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(PYTHON, args, { timeout: 45_000, maxBuffer: 4 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err !== null && typeof err.code !== 'number') return reject(Object.assign(err, { stdout, stderr }));
      resolve({ code: err === null ? 0 : (err.code as number), stdout, stderr });
    });
  });
}

/** Runs a Python peer that prints one JSON line (its summary) and exits 0, and reads that line. */
export async function pythonSummary<T = Record<string, unknown>>(args: string[]): Promise<T> {
  const run = await runPython(args);
  if (run.code !== 0) throw new Error(`${args[0]} exited ${run.code}\nstdout:\n${run.stdout}\nstderr:\n${run.stderr}`);
  const lines = run.stdout.trim().split('\n');
  if (lines.length !== 1) throw new Error(`${args[0]} printed ${lines.length} lines, not one JSON summary:\n${run.stdout}`);
  return JSON.parse(lines[0]!) as T;
}

const running = new Set<ChildProcess>();

/** SIGKILLs every Python server still running (for an afterEach or afterAll). */
export function killPythonServers(): void {
  for (const child of running) child.kill('SIGKILL');
}

/** Starts the server on `port` (0: a free one) and waits for its "listening" line. */
export function startPython(port = 0): Promise<PythonServer> {
  const child = spawn(PYTHON, [SERVER_PY, String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  const events: Array<Record<string, unknown>> = [];
  const waiters: Array<{ event: string; seen: number; resolve: (e: Record<string, unknown>) => void }> = [];
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) =>
    child.once('close', () => {
      running.delete(child);
      resolve();
    }),
  );
  createInterface({ input: child.stdout! }).on('line', (line) => {
    const event = JSON.parse(line) as Record<string, unknown>;
    events.push(event);
    for (const w of [...waiters]) {
      if (event.event === w.event) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(event);
      }
    }
  });
  const consumed = new Map<string, number>();
  const next = (event: string) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const index = consumed.get(event) ?? 0;
      consumed.set(event, index + 1);
      const seen = events.filter((e) => e.event === event);
      if (seen.length > index) return resolve(seen[index]!);
      const timer = setTimeout(() => reject(new Error(`python: no "${event}" line\n${stderr}`)), 10_000);
      waiters.push({ event, seen: index, resolve: (e) => (clearTimeout(timer), resolve(e)) });
    });
  return next('listening').then((listening) => ({
    port: listening.port as number,
    url: `ws://127.0.0.1:${listening.port as number}/ws`,
    events,
    next,
    kill: (signal) => {
      child.kill(signal);
      return exited;
    },
  }));
}
