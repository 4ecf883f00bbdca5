/**
 * Resumable sessions end to end:
 * - the echo example's page in Debian's Chromium through a proxy that cuts
 *   its connection, against `npm start -- --resume` (the session resumes
 *   after a cut) and without it (a plain connection that reconnects, with no
 *   session text); Node's `connect()` with `resume: true` against the example
 *   without it (a plain connection);
 * - Python's websockets (Debian's python3-websockets) against the echo
 *   example with `--resume`: a plain client still gets a plain echo, one that
 *   offers only the session subprotocol and sends no hello gets 1002, and
 *   one that speaks the session's hello gets its welcome and its echo.
 */
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { filter, firstValueFrom } from 'rxjs';
import { connect, RESUME_PROTOCOL, type RxClient } from '../../src';
import { CuttingProxy } from '../support/proxy';
import { launchChromium } from './chromium';
import { startEcho, type EchoProcess } from './echo-process';
import { exactly, logLine, payloads, waitForStatus, watchErrors } from './pages';
import { runPython } from './peers/python-process';

type Browser = Awaited<ReturnType<typeof launchChromium>>;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

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

/** Runs a Python peer that prints one JSON line, and reads it. */
async function pythonSummary(args: string[]): Promise<Record<string, unknown>> {
  const run = await runPython(args);
  if (run.code !== 0) throw new Error(`${args[0]} exited ${run.code}\nstdout:\n${run.stdout}\nstderr:\n${run.stderr}`);
  const lines = run.stdout.trim().split('\n');
  expect(lines).toHaveLength(1);
  return JSON.parse(lines[0]!) as Record<string, unknown>;
}

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
