/**
 * Runs the BUILT echo example (`dist/examples/echo/server.js`) as a child
 * process on a free port, for the end-to-end suites. `npm run test:e2e`
 * builds first.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

export const ROOT = join(__dirname, '..', '..');
export const SERVER_JS = join(ROOT, 'dist', 'examples', 'echo', 'server.js');

const LISTENING = /echo server on http:\/\/127\.0\.0\.1:(\d+)\/ \(WebSocket at (\/\S*)\)(?:, permessage-deflate on)?(?:, resumable sessions on)?$/;

export interface EchoProcess {
  readonly port: number;
  /** The server's process id (to read its RSS from /proc). */
  readonly pid: number;
  /** `http://127.0.0.1:PORT` (no trailing slash). */
  readonly origin: string;
  /** `ws://127.0.0.1:PORT/ws` (or the `--path` given). */
  readonly wsUrl: string;
  /** Every stdout line so far (each starts with an ISO timestamp). */
  readonly lines: readonly string[];
  /** Everything the process wrote to stderr so far. */
  readonly stderr: () => string;
  /** Resolves with the first line (already seen or still to come) matching `pattern`. */
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Sends SIGTERM and resolves with the exit code (`null` if killed by a signal) once stdio is closed. */
  stop(): Promise<number | null>;
}

/**
 * Starts `node dist/examples/echo/server.js --port 0 ...args` and waits for
 * its listening line (`--port N` in `args` wins: a restart on the same port).
 */
export async function startEcho(args: readonly string[] = [], startTimeoutMs = 15_000): Promise<EchoProcess> {
  if (!existsSync(SERVER_JS)) throw new Error(`${SERVER_JS} is missing: run \`npm run build\` (npm run test:e2e does)`);
  const child = spawn(process.execPath, [SERVER_JS, '--port', '0', ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, PORT: undefined, HOST: undefined },
  });
  const lines: string[] = [];
  const waiters = new Set<Waiter>();
  let stderr = '';
  let exited = false;
  const describeOutput = () => `stdout:\n${lines.join('\n')}\nstderr:\n${stderr}`;
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => (stderr += chunk));
  createInterface({ input: child.stdout!, crlfDelay: Infinity }).on('line', (line) => {
    lines.push(line);
    for (const w of [...waiters]) if (w.pattern.test(line)) w.settle(line);
  });
  const closed = new Promise<number | null>((resolve) =>
    child.once('close', (code) => {
      exited = true;
      for (const w of [...waiters]) w.settle(new Error(`echo server exited (code ${code}) before logging ${w.pattern}\n${describeOutput()}`));
      resolve(code);
    }),
  );

  const waitForLine = (pattern: RegExp, timeoutMs = 10_000): Promise<string> => {
    const seen = lines.find((l) => pattern.test(l));
    if (seen !== undefined) return Promise.resolve(seen);
    if (exited) return Promise.reject(new Error(`echo server has exited without logging ${pattern}\n${describeOutput()}`));
    return new Promise<string>((resolve, reject) => {
      const waiter: Waiter = {
        pattern,
        settle: (result) => {
          waiters.delete(waiter);
          clearTimeout(timer);
          if (typeof result === 'string') resolve(result);
          else reject(result);
        },
      };
      const timer = setTimeout(
        () => waiter.settle(new Error(`echo server did not log ${pattern} within ${timeoutMs} ms\n${describeOutput()}`)),
        timeoutMs,
      );
      waiters.add(waiter);
    });
  };

  let port: number;
  let path: string;
  try {
    const match = LISTENING.exec(await waitForLine(LISTENING, startTimeoutMs))!;
    port = Number(match[1]);
    path = match[2]!;
  } catch (err) {
    child.kill('SIGKILL');
    await closed;
    throw err;
  }

  let stopped: Promise<number | null> | null = null;
  return {
    port,
    pid: child.pid!,
    origin: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}${path}`,
    lines,
    stderr: () => stderr,
    waitForLine,
    stop: () => (stopped ??= stop(child, closed)),
  };
}

async function stop(child: ChildProcess, closed: Promise<number | null>): Promise<number | null> {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  // The server drains for at most its closeTimeout (5 s); past 15 s something is wrong.
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  try {
    return await closed;
  } finally {
    clearTimeout(timer);
  }
}

interface Waiter {
  readonly pattern: RegExp;
  settle(result: string | Error): void;
}
