/**
 * Hardening, end to end: SIGTERM to the built echo example
 * (dist/examples/echo/server.js) with 1,000 connected clients. Every client
 * gets 1001 after whatever the server had echoed to it (in order, nothing
 * missing in between), and the process exits 0 within its close deadline.
 */
import { WebSocket } from 'ws';
import { startEcho, type EchoProcess } from './echo-process';

const N = 1000;
/** The example's closeTimeout (the serve() default). */
const CLOSE_TIMEOUT = 5000;

interface Client {
  readonly ws: WebSocket;
  readonly got: string[];
  readonly closed: Promise<{ code: number; reason: string; got: string[] }>;
}

function connect(url: string): Promise<Client> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    const got: string[] = [];
    ws.on('message', (data) => got.push(data.toString()));
    const closed = new Promise<{ code: number; reason: string; got: string[] }>((r) =>
      ws.once('close', (code, reason) => r({ code, reason: reason.toString(), got: [...got] })),
    );
    ws.once('open', () => resolve({ ws, got, closed }));
    ws.once('error', reject);
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('echo example under SIGTERM (e2e)', () => {
  let echo: EchoProcess | undefined;
  const clients: Client[] = [];

  afterEach(async () => {
    for (const c of clients.splice(0)) c.ws.terminate();
    await echo?.stop();
    echo = undefined;
  });

  it(`SIGTERM with ${N} clients: every one gets 1001 after its echoes, and the process exits 0 within the deadline`, async () => {
    // A thousand clients from one address: the per-address limits are raised for them.
    echo = await startEcho(['--heartbeat-ms', '0', '--max-per-address', '2000', '--handshakes-per-address', '100000']);
    for (let i = 0; i < N; i += 100) clients.push(...(await Promise.all(Array.from({ length: 100 }, () => connect(echo!.wsUrl)))));
    // Every client is served.
    clients.forEach((c, i) => c.ws.send(`hello ${i}`));
    const deadline = Date.now() + 20_000;
    while (clients.some((c) => c.got.length < 1) && Date.now() < deadline) await sleep(20);
    expect(clients.filter((c) => c.got.length < 1)).toHaveLength(0);

    // A burst from every client, then SIGTERM at once: some of it is in flight, some echoed, some queued.
    clients.forEach((c, i) => {
      for (let k = 0; k < 20; k++) c.ws.send(`tail ${i}.${k}`);
    });
    const started = performance.now();
    const code = await echo.stop();
    const took = performance.now() - started;
    process.stdout.write(`SIGTERM with ${N} clients: exit ${code} after ${took.toFixed(0)} ms\n`);
    const closes = await Promise.all(clients.map((c) => c.closed));

    expect(code).toBe(0);
    expect(took).toBeLessThan(CLOSE_TIMEOUT + 1000);
    expect(echo.stderr()).toBe('');
    expect(echo.lines.filter((l) => / open \S+ \/ws/.test(l))).toHaveLength(N);
    expect(echo.lines.some((l) => l.endsWith(`SIGTERM: closing (1001 to ${N} client(s))`))).toBe(true);
    // One close line per client, all of them before the final "closed": close() resolves after every socket has closed.
    const closeLines = echo.lines.flatMap((l, i) => (/ close \S+ code=/.test(l) ? [i] : []));
    const closedAt = echo.lines.findIndex((l) => / closed$/.test(l));
    // (The log must survive the exit: lines still queued for a slow stdout pipe are lost if the process exits under them.)
    expect({ closedAt, lines: echo.lines.length }).toEqual({ closedAt: echo.lines.length - 1, lines: 2 * N + 3 });
    expect(closeLines).toHaveLength(N);
    expect(closeLines.filter((i) => i > closedAt)).toEqual([]);
    const wrong: string[] = [];
    closes.forEach((c, i) => {
      if (c.code !== 1001 || c.reason !== 'Server shutting down') wrong.push(`client ${i}: close ${c.code} ${JSON.stringify(c.reason)}`);
      // What came back is the hello, then a prefix of the burst, in order: nothing lost in the middle.
      const expected = [`hello ${i}`, ...Array.from({ length: 20 }, (_, k) => `tail ${i}.${k}`)].slice(0, c.got.length);
      if (JSON.stringify(c.got) !== JSON.stringify(expected)) wrong.push(`client ${i}: got ${JSON.stringify(c.got)}`);
    });
    expect(wrong).toEqual([]);
    const echoedTails = closes.reduce((n, c) => n + c.got.length - 1, 0);
    process.stdout.write(`  ${echoedTails} of ${N * 20} burst messages were echoed before the 1001\n`);
  }, 60_000);
});
