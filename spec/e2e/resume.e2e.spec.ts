/**
 * Resumable sessions end to end:
 * - the browser build of `connect({ resume: true })` in Debian's Chromium,
 *   in a small test page bundled as the example pages are, against an
 *   rxjs-ws server with `resume` in this process, through a proxy that cuts
 *   every connection every 100–500 ms: each side's numbered stream arrives
 *   whole, once and in order, over one session, and nothing is reported lost;
 * - the echo example's page through such a proxy, against `npm start --
 *   --resume` (the session resumes after a cut) and without it (a plain
 *   connection that reconnects, with no session text); Node's `connect()`
 *   with `resume: true` against the example without it (a plain connection);
 * - Python's websockets (Debian's python3-websockets) against the echo
 *   example with `--resume`: a plain client still gets a plain echo, one that
 *   offers only the session subprotocol and sends no hello gets 1002, and
 *   one that speaks the session's hello gets its welcome and its echo.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { filter, firstValueFrom } from 'rxjs';
import { connect, RESUME_PROTOCOL, serve, type CloseInfo, type RxClient, type RxServer, type RxSession } from '../../src';
import { bundlePageScript } from '../../examples/build-pages';
import { CuttingProxy } from '../support/proxy';
import { launchChromium } from './chromium';
import { ROOT, startEcho, type EchoProcess } from './echo-process';
import { exactly, logLine, payloads, waitForStatus, waitUntil, watchErrors } from './pages';
import { pythonSummary } from './peers/python-process';

type Browser = Awaited<ReturnType<typeof launchChromium>>;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Frames each side sends, in batches of `BATCH` every `PACE_MS`: about 3 s of traffic, so that the proxy cuts it several times. */
const COUNT = 2_000;
const BATCH = 10;
const PACE_MS = 15;

/**
 * The test page's script: `start(url)` connects with `resume: true`, sends
 * `page 0` … `page N-1` in paced batches, and records on `window.run` what
 * arrives, each open's session state, and every error.
 */
const PAGE_SCRIPT = `
import { connect } from 'rxjs-ws';
const run = (window.run = { received: [], opens: [], errors: [], sent: 0, closed: null });
window.start = (url, count, batch, pace, maxBytes) => {
  const client = (window.client = connect(url, { resume: { maxBytes }, reconnect: { initialDelay: 10, maxDelay: 100 } }));
  client.status$.subscribe((status) => {
    if (status.state === 'open') run.opens.push(status.session ? status.session.state + (status.session.why ? ' ' + status.session.why : '') : 'none');
  });
  client.errors$.subscribe((error) => run.errors.push(error.name + ': ' + error.message));
  client.messages$.subscribe({
    next: (frame) => run.received.push(typeof frame === 'string' ? frame : 'binary ' + frame.length),
    error: (error) => run.errors.push('messages$: ' + error.message),
  });
  client.close$.subscribe((info) => (run.closed = info));
  const send = () => {
    for (let i = 0; i < batch && run.sent < count; i++) client.next('page ' + run.sent++);
    if (run.sent < count) setTimeout(send, pace);
  };
  send();
};
`;

/** Numbered frames: `prefix 0` … `prefix count-1`. */
const numbered = (prefix: string, count: number) => Array.from({ length: count }, (_, i) => `${prefix} ${i}`);

/** What the test page recorded (`window.run`). */
interface PageRun {
  received: string[];
  opens: string[];
  errors: string[];
  sent: number;
  closed: CloseInfo | null;
}
const pageRun = (page: Page) => page.evaluate('window.run') as Promise<PageRun>;

describe('browser connect({ resume: true }) through a proxy that cuts every connection every 100–500 ms (e2e)', () => {
  let server: RxServer | undefined;
  let proxy: CuttingProxy | undefined;
  let browser: Browser | undefined;
  const timers = new Set<NodeJS.Timeout>();

  afterAll(async () => {
    for (const timer of timers) clearInterval(timer);
    await browser?.close();
    await proxy?.close();
    await server?.close({ timeout: 1_000 });
  });

  it(`delivers ${COUNT} frames each way, each once and in order, over one session that resumes after every cut`, async () => {
    // Bundled as the example pages are: rxjs-ws from its browser build (dist/browser).
    const script = await bundlePageScript(ROOT, { stdin: { contents: PAGE_SCRIPT, resolveDir: ROOT, sourcefile: 'resume-page.js' } }, 'the test page');
    const html = Buffer.from(`<!doctype html><meta charset="utf-8"><title>rxjs-ws resume</title><script type="module">\n${script}</script>\n`);
    // A small window on both sides (8 KiB, about 900 of these frames), so that senders also wait for acknowledgements.
    const maxBytes = 8 * 1024;
    server = serve({
      port: 0,
      host: '127.0.0.1',
      path: '/ws',
      resume: { ttl: 30_000, maxBytes },
      request: (_req: IncomingMessage, res: ServerResponse) => res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end(html),
    });
    const sessions: RxSession[] = [];
    const fromPage: string[] = [];
    const sessionErrors: string[] = [];
    let plain = 0;
    server.connections$.subscribe(() => plain++);
    server.sessions$.subscribe((session) => {
      sessions.push(session);
      session.errors$.subscribe((error) => sessionErrors.push(`${error.name}: ${error.message}`));
      session.messages$.subscribe((frame) => fromPage.push(String(frame)));
      // The session's own numbered stream, paced as the page's, whether its client is there or not.
      let sent = 0;
      const timer = setInterval(() => {
        for (let i = 0; i < BATCH && sent < COUNT; i++) session.next(`server ${sent++}`);
        if (sent === COUNT) clearInterval(timer);
      }, PACE_MS);
      timers.add(timer);
      session.close$.subscribe(() => clearInterval(timer));
    });
    const { port } = await server.listening;
    proxy = new CuttingProxy(port);
    const proxyPort = await proxy.listen();

    browser = await launchChromium();
    const page = await browser.context.newPage();
    const pageErrors: string[] = [];
    watchErrors(page, pageErrors);
    // The page comes through the proxy too: its socket is then of its own origin (the server's default, same-origin).
    await page.goto(`http://127.0.0.1:${proxyPort}/`);
    const started = Date.now();
    await page.evaluate(`start(${JSON.stringify(`ws://127.0.0.1:${proxyPort}/ws`)}, ${COUNT}, ${BATCH}, ${PACE_MS}, ${maxBytes})`);
    await waitUntil(async () => (await pageRun(page)).opens.length > 0, 'the page opened its first connection');
    proxy.cutEvery(100, 500);

    await waitUntil(async () => (await pageRun(page)).received.length >= COUNT && fromPage.length >= COUNT, 'both sides had every frame', 45_000);
    proxy.stop();
    const elapsed = Date.now() - started;
    await sleep(300); // a duplicate would come right behind
    const run = await pageRun(page);
    process.stdout.write(`resume through cuts: ${COUNT} frames each way in ${elapsed} ms, ${proxy.cuts} cuts, ${run.opens.length} connections\n`);

    expect(run.received).toEqual(numbered('server', COUNT));
    expect(fromPage).toEqual(numbered('page', COUNT));
    // One session, begun once and resumed on every later connection.
    expect(sessions).toHaveLength(1);
    expect(plain).toBe(0);
    expect(run.opens[0]).toBe('new');
    expect(run.opens.length).toBeGreaterThan(1);
    expect(run.opens.slice(1)).toEqual(run.opens.slice(1).map(() => 'resumed'));
    expect(sessions[0]!.connections).toBe(run.opens.length);
    expect(sessions[0]!.stats).toMatchObject({ received: COUNT, sent: COUNT, dropped: 0, refused: 0 });
    // Nothing was lost, and nothing is reported lost: what a cut connection had not sent, the session sent again.
    expect(await page.evaluate('client.stats')).toEqual({ received: COUNT, sent: COUNT, dropped: 0, refused: 0, discarded: 0 });
    expect(run.errors).toEqual([]);
    expect(sessionErrors).toEqual([]);

    // The page closes: the session ends with it (not left waiting for its ttl).
    const ended = firstValueFrom(sessions[0]!.close$);
    await page.evaluate('client.close()');
    expect(await ended).toMatchObject({ code: 1000, wasClean: true });
    await waitUntil(async () => (await pageRun(page)).closed !== null, 'the page client closed');
    expect((await pageRun(page)).closed).toMatchObject({ code: 1000, wasClean: true });
    expect(server.metrics().sessions).toMatchObject({ open: 0, resumed: run.opens.length - 1, expired: 0, evicted: 0 });
    // Chromium logs a handshake the proxy cut short itself; nothing else may show.
    const cutShort = /^WebSocket connection to 'ws:\/\/127\.0\.0\.1:\d+\/ws' failed: (Error during WebSocket handshake: net::ERR_CONNECTION_RESET|Connection closed before receiving a handshake response)$/;
    expect(pageErrors.filter((error) => !cutShort.test(error))).toEqual([]);
  }, 90_000);
});

/** The echo example's page, loaded through `proxy` (its socket URL is then the proxy's, and same-origin). */
async function openEchoPage(browser: Browser, proxyPort: number, errors: string[]): Promise<Page> {
  const page = await browser.context.newPage();
  page.setDefaultTimeout(10_000);
  watchErrors(page, errors);
  await page.goto(`http://127.0.0.1:${proxyPort}/`);
  expect(await page.inputValue('#url')).toBe(`ws://127.0.0.1:${proxyPort}/ws`);
  return page;
}

/** Types `text`, presses Enter, and waits for its echo. */
async function echoOnce(page: Page, text: string): Promise<void> {
  await page.fill('#message', text);
  await page.press('#message', 'Enter');
  await logLine(page, 'received', text).waitFor();
}

describe('echo example page through a cutting proxy (e2e)', () => {
  let echo: EchoProcess | undefined;
  let proxy: CuttingProxy | undefined;
  let browser: Browser | undefined;
  const errors: string[] = [];

  beforeAll(async () => {
    browser = await launchChromium();
  });

  afterEach(async () => {
    await proxy?.close();
    proxy = undefined;
    if (echo !== undefined) expect(await echo.stop()).toBe(0);
    echo = undefined;
  });

  afterAll(async () => {
    await browser?.close();
  });

  /** The echo example started with `args`, behind a new proxy. */
  async function start(args: string[]): Promise<{ echo: EchoProcess; proxyPort: number; wsUrl: string }> {
    echo = await startEcho(['--heartbeat-ms', '0', ...args]);
    proxy = new CuttingProxy(echo.port);
    const proxyPort = await proxy.listen();
    return { echo, proxyPort, wsUrl: `ws://127.0.0.1:${proxyPort}/ws` };
  }

  it('with --resume: a new session on connect, "session resumed" after the proxy cuts the connection, and every echo once', async () => {
    const { echo, proxyPort, wsUrl } = await start(['--resume']);
    const page = await openEchoPage(browser!, proxyPort, errors);
    await page.click('#connect');
    await waitForStatus(page, 'OPEN');
    await logLine(page, 'open', `${wsUrl}, new session`).waitFor();
    await echo.waitForLine(/ open 127\.0\.0\.1:\d+ \/ws \(session\)$/);
    await echoOnce(page, 'before the cut');

    proxy!.cut();
    await logLine(page, 'reconnecting', /^attempt 1 in \d+ ms: closed with code=1006 \(abnormal closure\)/).waitFor();
    await logLine(page, 'open', exactly(`${wsUrl} (after 1 attempt(s)), session resumed: nothing lost`)).waitFor();
    await echoOnce(page, 'after the cut');
    await sleep(300); // a duplicate would come right behind
    expect(await payloads(page, '.line.received')).toEqual(['before the cut', 'after the cut']);
    // The server saw one session, which the cut did not end.
    expect(echo.lines.filter((line) => / open 127\.0\.0\.1:\d+ /.test(line))).toHaveLength(1);
    expect(echo.lines.filter((line) => / close 127\.0\.0\.1:\d+ /.test(line))).toEqual([]);

    await page.click('#disconnect');
    await waitForStatus(page, 'CLOSED');
    await echo.waitForLine(/ close 127\.0\.0\.1:\d+ code=1000 reason="Disconnect button" clean=true$/);
    await page.close();
    expect(errors).toEqual([]);
  });

  it('without --resume: a plain connection, with no session text, that reconnects after the cut', async () => {
    const { echo, proxyPort, wsUrl } = await start([]);
    const page = await openEchoPage(browser!, proxyPort, errors);
    await page.click('#connect');
    await waitForStatus(page, 'OPEN');
    await logLine(page, 'open', wsUrl).waitFor();
    await echoOnce(page, 'before the cut');

    proxy!.cut();
    await logLine(page, 'reconnecting', /^attempt 1 in \d+ ms: closed with code=1006 \(abnormal closure\)/).waitFor();
    await logLine(page, 'open', exactly(`${wsUrl} (after 1 attempt(s))`)).waitFor();
    await echoOnce(page, 'after the cut');
    expect((await payloads(page, '.line')).filter((text) => /session/.test(text))).toEqual([]);
    // Two plain connections, neither of them a session.
    const opens = echo.lines.filter((line) => / open 127\.0\.0\.1:\d+ /.test(line));
    expect(opens).toHaveLength(2);
    expect(opens.filter((line) => line.endsWith('(session)'))).toEqual([]);

    await page.click('#disconnect');
    await waitForStatus(page, 'CLOSED');
    await page.close();
    expect(errors).toEqual([]);
  });
});

describe('connect({ resume: true }) in Node against the echo example without --resume (e2e)', () => {
  let echo: EchoProcess | undefined;
  let client: RxClient | undefined;

  afterAll(async () => {
    client?.terminate();
    if (echo !== undefined) expect(await echo.stop()).toBe(0);
  });

  it('opens a plain connection (session "unsupported") and echoes', async () => {
    echo = await startEcho(['--heartbeat-ms', '0']);
    client = connect(echo.wsUrl, { resume: true, reconnect: false });
    const open = firstValueFrom(client.status$.pipe(filter((status) => status.state !== 'connecting')));
    const echoed = firstValueFrom(client.messages$);
    client.next('plain after all');
    expect(await open).toMatchObject({ state: 'open', session: { state: 'unsupported' } });
    expect(await echoed).toBe('plain after all');
    const closed = firstValueFrom(client.close$);
    client.close();
    expect(await closed).toMatchObject({ code: 1000, wasClean: true });
    expect(echo.lines.filter((line) => / open 127\.0\.0\.1:\d+ /.test(line))).toHaveLength(1);
  });
});

const ECHO_CLIENT = join(__dirname, 'peers', 'echo_client.py');
const RESUME_CLIENT = join(__dirname, 'peers', 'resume_client.py');


describe('echo example with --resume, with Python websockets clients (e2e)', () => {
  let echo: EchoProcess;

  beforeAll(async () => {
    echo = await startEcho(['--resume', '--heartbeat-ms', '20']);
  });

  afterAll(async () => {
    if (echo !== undefined) expect(await echo.stop()).toBe(0);
  });

  it('a client that does not offer the subprotocol gets a plain echo, exactly, and closes with 1000', async () => {
    const summary = await pythonSummary([ECHO_CLIENT, echo.wsUrl]);
    expect(summary).toMatchObject({ ok: true, closeCode: 1000, closeReason: 'python done', extensions: [] });
    const frames = summary.frames as Array<Record<string, unknown>>;
    expect(frames.map((f) => f.name)).toEqual(['text', 'binary', 'binary 1 MiB', 'text 1 MiB']);
    for (const f of frames) expect(f).toMatchObject({ sameKind: true, exact: true });
    // Heart beats came with the echoes, as to any plain connection.
    expect(summary.heartbeats).toBeGreaterThanOrEqual(4);
    const open = await echo.waitForLine(/ open 127\.0\.0\.1:\d+ \/ws/);
    expect(open).not.toMatch(/\(session\)$/);
    await echo.waitForLine(/ close 127\.0\.0\.1:\d+ code=1000 reason="python done" clean=true$/);
  });

  it(`a client that offers only ${RESUME_PROTOCOL} and sends plain text instead of the hello is closed with 1002`, async () => {
    const summary = await pythonSummary([RESUME_CLIENT, 'plain', echo.wsUrl]);
    expect(summary).toEqual({
      mode: 'plain',
      subprotocol: RESUME_PROTOCOL,
      frames: [],
      closeCode: 1002,
      closeReason: 'Resumable session: expected the session hello first',
    });
    // It never became a session (nor a plain connection): the echo example did not see it.
    expect(echo.lines.filter((line) => / open 127\.0\.0\.1:\d+ /.test(line))).toHaveLength(1);
  });

  it(`a client that speaks ${RESUME_PROTOCOL} gets its welcome, a new session, and its echo`, async () => {
    const summary = await pythonSummary([RESUME_CLIENT, 'hello', echo.wsUrl]);
    expect(summary).toMatchObject({
      mode: 'hello',
      subprotocol: RESUME_PROTOCOL,
      welcomeMark: true,
      welcome: { r: 0, w: 1024 * 1024, resumed: false },
      echo: 'hello from python in a session \u2713',
      closeCode: 1000,
      closeReason: 'python done',
    });
    expect((summary.welcome as { s: string }).s).toMatch(/^[A-Za-z0-9_-]{16,64}$/);
    await echo.waitForLine(/ open 127\.0\.0\.1:\d+ \/ws \(session\)$/);
  });
});
