/**
 * Signals, as process managers send them: `npm start` stopped with
 * `kill -TERM <npm's pid>` (npm runs the script with `sh -c`; unless the
 * script execs node, the shell dies and the server never hears of it), a
 * second SIGTERM or a Ctrl-C while the server is closing, and a close that
 * takes longer than the shutdown deadline. The server must never die
 * silently by a signal's default action, nor drop what its clients have
 * queued without saying so.
 */
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import { Attacker } from './support/attacker';
import { alive, sleep, summary } from './support/measure';
import { ROOT, start, type Started } from './support/process';

const ECHO_JS = join(ROOT, 'dist', 'examples', 'echo', 'server.js');
const LISTENING = /echo server on http:\/\/127\.0\.0\.1:(\d+)\//;

const running: Started[] = [];
/** Processes started by others (npm's child), ended by pid if a test leaves them behind. */
const strays: number[] = [];
const clients: WebSocket[] = [];
afterEach(async () => {
  for (const ws of clients.splice(0)) ws.terminate();
  await Promise.all(running.splice(0).map((p) => p.stop(2000)));
  for (const pid of strays.splice(0)) if (alive(pid)) process.kill(pid, 'SIGKILL');
});

function run(command: string, args: readonly string[]): Started {
  const p = start(command, args);
  running.push(p);
  return p;
}

/** The children of a process (Linux). */
function children(pid: number): number[] {
  return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
}

/** Its children, theirs, and so on. */
function descendants(pid: number): number[] {
  return children(pid).flatMap((child) => [child, ...descendants(child)]);
}

/** Whether a TCP connection to the port is refused (nothing listens there). */
function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => (socket.destroy(), resolve(false)));
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
  });
}

/** An upgraded raw client that sent one text message and then neither reads nor answers a close. */
async function stubborn(port: number): Promise<Attacker> {
  const a = await Attacker.connect(port);
  expect(a.status).toBe(101);
  await a.write(Buffer.from([0x81, 0x85, 1, 2, 3, 4, 0x69, 0x67, 0x6f, 0x68, 0x6e])); // "hello", masked
  return a;
}

it('`npm start` stopped with kill -TERM <npm pid>: the server hears it, closes its clients with 1001, logs it and exits 0', async () => {
  const npm = run('npm', ['start', '--ignore-scripts', '--', '--port', '0']); // the build is the suite's own
  const port = Number(LISTENING.exec(await npm.waitForLine(LISTENING))![1]);
  strays.push(...descendants(npm.pid));
  const [child] = children(npm.pid);
  const server = descendants(npm.pid).find((pid) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith('node\0dist/examples/echo/server.js'));
  expect(server).toBeDefined();
  const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`);
  clients.push(ws);
  await new Promise((resolve, reject) => (ws.once('open', resolve), ws.once('error', reject)));
  // (-1 if the server never closes it: it did not hear the signal.)
  const closed = new Promise<number>((resolve) => {
    const timer = setTimeout(() => resolve(-1), 10_000);
    ws.once('close', (code) => (clearTimeout(timer), resolve(code)));
  });

  process.kill(npm.pid, 'SIGTERM');
  const { code, signal } = await npm.exit;
  const clientSaw = await closed;
  await sleep(100);
  summary('npm start, kill -TERM <npm pid>', {
    'npm exit': `${code}${signal ? ` (${signal})` : ''}`,
    client: clientSaw === -1 ? 'not closed within 10 s' : `close ${clientSaw}`,
    'server alive after': String(alive(server!)),
    'between npm and node': child === server ? 'nothing (exec)' : 'a shell',
  });

  expect({ code, signal }).toEqual({ code: 0, signal: null });
  expect(clientSaw).toBe(1001);
  expect(npm.lines.filter((l) => / (SIGTERM: closing|closed)/.test(l)).map((l) => l.slice(25))).toEqual(['SIGTERM: closing (1001 to 1 client(s))', 'closed']);
  expect(alive(server!)).toBe(false);
  expect(await refused(port)).toBe(true); // the port is free again
  expect(npm.stderr()).toBe('');
  expect(child).toBe(server); // exec'd: no shell in between to swallow the signal
}, 30_000);

it('a second SIGTERM and a Ctrl-C while closing are logged, and the close goes on to the end: exit 0, the client had its echo and 1001', async () => {
  const echo = run(process.execPath, [ECHO_JS, '--port', '0', '--heartbeat-ms', '0']);
  const port = Number(LISTENING.exec(await echo.waitForLine(LISTENING))![1]);
  const client = await stubborn(port);
  expect(await client.waitFor(() => client.frames > 0, 2000)).toBe(true); // its echo came back
  const started = Date.now();
  echo.signal('SIGTERM');
  await sleep(1000);
  echo.signal('SIGTERM');
  await sleep(700);
  echo.signal('SIGINT');
  const { code, signal } = await echo.exit;
  const took = Date.now() - started;
  const logged = echo.lines.map((l) => l.slice(25));
  summary('second signal while closing', { exit: `${code}${signal ? ` (${signal})` : ''} after ${took} ms`, logged: JSON.stringify(logged.slice(1)) });

  expect({ code, signal }).toEqual({ code: 0, signal: null });
  expect(logged.filter((l) => / again: /.test(l))).toEqual([
    expect.stringMatching(/^SIGTERM again: still closing \(1 client\(s\) still open, \d+ byte\(s\) queued for them\); the close goes on, for \d+ ms at most$/),
    expect.stringMatching(/^SIGINT again: still closing \(1 client\(s\) still open/),
  ]);
  expect(logged.at(-1)).toBe('closed');
  // The client that never answered was given its frames and 1001, then let go at the close deadline (5 s).
  expect(client.close).toEqual({ code: 1001, reason: 'Server shutting down' });
  expect(took).toBeGreaterThan(4500);
}, 30_000);

it('a close that outlasts --shutdown-timeout-ms ends with exit 1 and a line saying what was left', async () => {
  const echo = run(process.execPath, [ECHO_JS, '--port', '0', '--heartbeat-ms', '0', '--shutdown-timeout-ms', '1000']);
  const port = Number(LISTENING.exec(await echo.waitForLine(LISTENING))![1]);
  await stubborn(port); // keeps the close waiting for its answer: 5 s
  const started = Date.now();
  echo.signal('SIGTERM');
  const { code, signal } = await echo.exit;
  const took = Date.now() - started;
  const last = echo.lines.at(-1)!.slice(25);
  summary('shutdown deadline', { exit: `${code}${signal ? ` (${signal})` : ''} after ${took} ms`, last: JSON.stringify(last) });

  expect({ code, signal }).toEqual({ code: 1, signal: null });
  expect(last).toMatch(/^the graceful close did not finish within 1000 ms: exiting with 1 \(1 client\(s\) still open, \d+ byte\(s\) queued for them\)$/);
  expect(took).toBeGreaterThanOrEqual(1000);
  expect(took).toBeLessThan(3000);
}, 30_000);
