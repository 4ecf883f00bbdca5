/**
 * The echo example's page in a real browser: Debian's Chromium driven by
 * playwright-core (no downloaded browser). The page runs rxjs-ws's browser
 * `connect()`, bundled into dist/examples/echo/index.html by `npm run build`.
 * Also takes the README's screenshot: into .tmp/echo-page.png, or
 * docs/echo-page.png with UPDATE_SCREENSHOTS=1 (so CI leaves the tree clean).
 */
import { mkdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Page } from 'playwright-core';
import { launchChromium } from './chromium';
import { ROOT, startEcho, type EchoProcess } from './echo-process';
import { logLine, payloads, waitForStatus, waitUntil, watchErrors } from './pages';
import { killPythonServers, startPython } from './peers/python-process';

const SCREENSHOT = join(ROOT, process.env.UPDATE_SCREENSHOTS === '1' ? 'docs' : '.tmp', 'echo-page.png');
const PAGE_FILE = pathToFileURL(join(ROOT, 'dist', 'examples', 'echo', 'index.html')).href;

/** UTF-8 bytes of `text` as the page shows them: `binary N bytes: 68 69 ...`. */
function binaryLine(text: string): string {
  const bytes = Buffer.from(text, 'utf8');
  return `binary ${bytes.length} bytes: ${[...bytes].map((b) => b.toString(16).padStart(2, '0')).join(' ')}`;
}

/** Echoes the page received, heart beats left out, in order. */
const echoes = (page: Page) => payloads(page, '.line.received:not(.heartbeat)');
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const countOpens = (echo: EchoProcess) => echo.lines.filter((l) => / open 127\.0\.0\.1:\d+ /.test(l)).length;

/**
 * Types `text` and presses Enter; waits for its line, which shows `shown`: a
 * `sent` line, or a `queued` one while the client has no open connection.
 */
async function send(page: Page, text: string, as: 'sent' | 'queued' = 'sent', shown = text): Promise<void> {
  await page.fill('#message', text);
  await page.press('#message', 'Enter');
  await logLine(page, as === 'queued' ? 'sent.queued' : 'sent:not(.queued)', shown).waitFor();
}

/** Waits until the page has received exactly `expected` (heart beats aside), and nothing more comes for a moment. */
async function expectEchoes(page: Page, expected: string[]): Promise<void> {
  await waitUntil(async () => (await echoes(page)).length >= expected.length, `${expected.length} echoes arrived`);
  await sleep(300); // a duplicate would come right behind
  expect(await echoes(page)).toEqual(expected);
}

describe('echo page in Chromium (e2e)', () => {
  let echo: EchoProcess;
  let browser: Awaited<ReturnType<typeof launchChromium>> | undefined;
  let page: Page;
  const pageErrors: string[] = [];
  const requests: string[] = [];

  beforeAll(async () => {
    echo = await startEcho(['--heartbeat-ms', '1000']);
    browser = await launchChromium();
    page = browser.context.pages()[0] ?? (await browser.context.newPage());
    page.setDefaultTimeout(10_000);
    watchErrors(page, pageErrors);
    page.on('request', (request) => requests.push(request.url()));
  });

  afterAll(async () => {
    await browser?.close();
    if (echo !== undefined) expect(await echo.stop()).toBe(0);
  });

  it('serves one self-contained page with the socket URL of its own host and only Connect enabled', async () => {
    const response = await page.goto(`${echo.origin}/`);
    expect(response?.status()).toBe(200);
    expect(await page.title()).toBe('rxjs-ws echo');
    expect(await page.inputValue('#url')).toBe(echo.wsUrl);
    expect(await page.textContent('#status')).toBe('CLOSED');
    expect(await page.textContent('#queued')).toBe('0');
    expect(await page.isEnabled('#connect')).toBe(true);
    expect(await page.isChecked('#app-heartbeat')).toBe(true);
    expect(await page.isDisabled('#disconnect')).toBe(true);
    expect(await page.isDisabled('#send')).toBe(true);
    // The script and the style sheet are in the page: nothing else is fetched (but the live panel's figures).
    expect(requests.filter((url) => url !== `${echo.origin}/metrics.json`)).toEqual([`${echo.origin}/`]);
    expect(await page.evaluate('getComputedStyle(document.body).maxWidth')).toBe('960px');
  });

  it('connects: status OPEN, an open line, Send and Disconnect enabled', async () => {
    await page.click('#connect');
    await waitForStatus(page, 'OPEN');
    await logLine(page, 'info', `connecting to ${echo.wsUrl}`).waitFor();
    await logLine(page, 'open', echo.wsUrl).waitFor();
    expect(await page.isDisabled('#connect')).toBe(true);
    expect(await page.isDisabled('#url')).toBe(true);
    expect(await page.isEnabled('#disconnect')).toBe(true);
    expect(await page.isEnabled('#send')).toBe(true);
    await echo.waitForLine(/ open 127\.0\.0\.1:\d+ \/ws$/);
  });

  it('sends a text message (Enter) and shows its echo', async () => {
    const text = 'hello from Chromium ✓';
    await send(page, text);
    await logLine(page, 'received', text).waitFor();
  });

  it("shows the server's heart beat", async () => {
    await logLine(page, 'received', 'heart beat').waitFor({ timeout: 5_000 });
    expect(await page.locator('#log .line.received.heartbeat').count()).toBeGreaterThan(0);
  });

  it('sends binary and gets binary back', async () => {
    const text = 'bytes ✓ rxjs-ws';
    await page.check('#binary');
    await send(page, text, 'sent', binaryLine(text));
    await logLine(page, 'received', binaryLine(text)).waitFor();
    // A text echo would show the text itself.
    expect(await logLine(page, 'received', text).count()).toBe(0);
    await page.uncheck('#binary');
  });

  it('shows the counters: nothing queued, nothing buffered, frames sent and received', async () => {
    await page.locator('#buffered-amount', { hasText: /^0$/ }).waitFor();
    expect(await page.textContent('#queued')).toBe('0');
    expect(Number(await page.textContent('#sent-count'))).toBe(2);
    await page.locator('#received-count', { hasText: /^([3-9]|\d\d+)$/ }).waitFor(); // two echoes and a heart beat at least
  });

  it('takes a screenshot for the README', async () => {
    await send(page, 'rxjs-ws: WebSockets as RxJS streams');
    await logLine(page, 'received', 'rxjs-ws: WebSockets as RxJS streams').waitFor();
    // Let the view settle on a state that shows all kinds of traffic, with a heart beat after the last echo.
    const beats = page.locator('#log .line.heartbeat');
    await beats.nth(await beats.count()).waitFor({ timeout: 5_000 });
    await page.fill('#message', '');
    await page.locator('#message').blur();
    mkdirSync(dirname(SCREENSHOT), { recursive: true });
    await page.screenshot({ path: SCREENSHOT });
    expect(statSync(SCREENSHOT).size).toBeGreaterThan(10_000);
  });

  it('survives a server restart: what is sent while it is down is queued, counted, and echoed once, in order, when it is back', async () => {
    await page.click('#clear');
    await send(page, 'before 1');
    await send(page, 'before 2');
    await expectEchoes(page, ['before 1', 'before 2']);

    const port = echo.port;
    expect(await echo.stop()).toBe(0); // SIGTERM: the server closes every socket with 1001 and exits
    await waitForStatus(page, 'RECONNECTING');
    await logLine(page, 'reconnecting', /^attempt \d+ in \d+ ms: closed with code=1001 \(going away\) reason="Server shutting down" wasClean=true$/).waitFor();
    for (const text of ['down 1', 'down 2', 'down 3']) await send(page, text, 'queued');
    expect(await page.textContent('#queued')).toBe('3');
    expect(await page.textContent('#buffered-amount')).toBe(String(3 * 'down 1'.length));
    // Each failed attempt is a 1006 the browser does not explain; the countdown shows when the next one goes.
    await logLine(page, 'reconnecting', /^attempt \d+ in \d+ ms: could not connect \(the browser does not say why\)$/).waitFor();
    await page.locator('#status-detail', { hasText: /^attempt \d+ in \d\.\d s$/ }).waitFor();

    echo = await startEcho(['--heartbeat-ms', '1000', '--port', String(port)]);
    await waitForStatus(page, 'OPEN', 15_000);
    await logLine(page, 'open', new RegExp(`^${echo.wsUrl} \\(after \\d+ attempt\\(s\\)\\)$`)).waitFor();
    await send(page, 'after 1');
    await expectEchoes(page, ['before 1', 'before 2', 'down 1', 'down 2', 'down 3', 'after 1']);
    expect(await page.textContent('#queued')).toBe('0');
    await echo.waitForLine(/ open 127\.0\.0\.1:\d+ \/ws$/);
    expect(countOpens(echo)).toBe(1);
  });

  it('goes offline for 3 s: the heartbeat gives the silent connection up, nothing queued is lost, and it reconnects when the network is back', async () => {
    await page.click('#clear');
    const opens = countOpens(echo);
    const offlineAt = Date.now();
    await browser!.context.setOffline(true);
    try {
      await logLine(page, 'info', 'the browser is offline: reconnect attempts wait for the network').waitFor();
      // Chromium keeps the socket but holds what comes in: the pings go unanswered.
      await waitForStatus(page, 'RECONNECTING', 3_000);
      const retry = logLine(page, 'reconnecting', /^attempt \d+ in \d+ ms: closed with code=1006 \(abnormal closure\) reason="Heartbeat timeout" wasClean=false; Heartbeat timeout/);
      await retry.waitFor();
      const retryAt = Date.now();
      for (const text of ['offline 1', 'offline 2', 'offline 3']) await send(page, text, 'queued');
      expect(await page.textContent('#queued')).toBe('3');
      // When the attempt falls due while offline, it waits for the network (the delay is random: it may not fall due in 3 s).
      const delay = Number(/ in (\d+) ms/.exec((await retry.locator('.payload').textContent())!)![1]);
      if (retryAt + delay < offlineAt + 2_500) {
        await page.locator('#status-detail', { hasText: /^attempt \d+: waiting for the network$/ }).waitFor({ timeout: 3_000 });
      }
      await sleep(offlineAt + 3_000 - Date.now());
    } finally {
      await browser!.context.setOffline(false);
    }
    await logLine(page, 'info', 'the browser is online again').waitFor();
    await waitForStatus(page, 'OPEN');
    await expectEchoes(page, ['offline 1', 'offline 2', 'offline 3']);
    expect(await page.textContent('#queued')).toBe('0');
    await waitUntil(async () => countOpens(echo) > opens, 'the server logged the new connection');
    expect(countOpens(echo)).toBe(opens + 1);
  });

  it('disconnects: close code 1000, wasClean, status CLOSED, Connect enabled again', async () => {
    await page.click('#disconnect');
    const close = page.locator('#log .line.close').last();
    await close.waitFor();
    expect(await close.locator('.payload').textContent()).toBe('code=1000 (normal closure) reason="Disconnect button" wasClean=true');
    await waitForStatus(page, 'CLOSED');
    expect(await page.isEnabled('#connect')).toBe(true);
    expect(await page.isDisabled('#send')).toBe(true);
    expect(await page.isDisabled('#disconnect')).toBe(true);
    await echo.waitForLine(/ close 127\.0\.0\.1:\d+ code=1000 reason="Disconnect button" clean=true$/);
  });

  it('clears the log', async () => {
    expect(await page.locator('#log .line').count()).toBeGreaterThan(0);
    await page.click('#clear');
    expect(await page.locator('#log .line').count()).toBe(0);
  });

  it('logged no page errors (but the refused attempts while the server was down, which Chromium logs itself)', () => {
    const refused = /^WebSocket connection to 'ws:\/\/127\.0\.0\.1:\d+\/ws' failed: Error in connection establishment: net::ERR_CONNECTION_REFUSED$/;
    expect(pageErrors.filter((e) => !refused.test(e))).toEqual([]);
  });
});

describe('echo page of a server with another --path (e2e)', () => {
  let echo: EchoProcess | undefined;
  let browser: Awaited<ReturnType<typeof launchChromium>> | undefined;

  afterAll(async () => {
    await browser?.close();
    if (echo !== undefined) expect(await echo.stop()).toBe(0);
  });

  it('offers the socket URL on that path, and echoes over it', async () => {
    echo = await startEcho(['--path', '/echo/v1']);
    expect(echo.wsUrl).toBe(`ws://127.0.0.1:${echo.port}/echo/v1`);
    browser = await launchChromium();
    const page = await browser.context.newPage();
    page.setDefaultTimeout(10_000);
    const errors: string[] = [];
    watchErrors(page, errors);
    await page.goto(`${echo.origin}/`);
    expect(await page.inputValue('#url')).toBe(echo.wsUrl);
    await page.click('#connect');
    await waitForStatus(page, 'OPEN');
    await send(page, 'on another path');
    await logLine(page, 'received', 'on another path').waitFor();
    await echo.waitForLine(/ open 127\.0\.0\.1:\d+ \/echo\/v1$/);
    expect(errors).toEqual([]);
  });
});

describe('echo page opened from a file (e2e)', () => {
  let browser: Awaited<ReturnType<typeof launchChromium>> | undefined;
  const errors: string[] = [];

  beforeAll(async () => {
    browser = await launchChromium();
  });
  afterAll(async () => {
    killPythonServers();
    await browser?.close();
  });

  /** The built page from its file; `requests` collects every URL it fetches. */
  async function openFile(requests: string[] = []): Promise<Page> {
    const page = await browser!.context.newPage();
    page.setDefaultTimeout(10_000);
    watchErrors(page, errors);
    page.on('request', (request) => requests.push(request.url()));
    await page.goto(PAGE_FILE);
    return page;
  }

  /** Connects to `url`, echoes a text and a binary frame, and disconnects. */
  async function echoBoth(page: Page, url: string): Promise<void> {
    await page.fill('#url', url);
    await page.click('#connect');
    await waitForStatus(page, 'OPEN');
    await send(page, 'from a file ✓');
    await logLine(page, 'received', 'from a file ✓').waitFor();
    await page.check('#binary');
    await send(page, 'bytes', 'sent', binaryLine('bytes'));
    await logLine(page, 'received', binaryLine('bytes')).waitFor();
    await page.click('#disconnect');
    await waitForStatus(page, 'CLOSED');
  }

  it('works without a server: styled, scripted, nothing fetched, and offers ws://127.0.0.1:8080/ws', async () => {
    const requests: string[] = [];
    const page = await openFile(requests);
    expect(await page.inputValue('#url')).toBe('ws://127.0.0.1:8080/ws');
    expect(await page.evaluate('getComputedStyle(document.body).maxWidth')).toBe('960px');
    await logLine(page, 'info', /^Opened from a file: .*--origin any \(npm start -- --origin any\)\.$/).waitFor();
    expect(requests).toEqual([PAGE_FILE]);
    await page.close();
    expect(errors).toEqual([]);
  });

  it('echoes text and binary with an echo server started with --origin any', async () => {
    const echo = await startEcho(['--origin', 'any', '--heartbeat-ms', '0']);
    try {
      const page = await openFile();
      await echoBoth(page, echo.wsUrl);
      await echo.waitForLine(/ close 127\.0\.0\.1:\d+ code=1000 reason="Disconnect button" clean=true$/);
      await page.close();
    } finally {
      expect(await echo.stop()).toBe(0);
    }
    expect(errors).toEqual([]);
  });

  it("echoes text and binary with Python's websockets server (heartbeat off: its pings are rxjs-ws's)", async () => {
    const python = await startPython();
    const page = await openFile();
    await page.uncheck('#app-heartbeat');
    await echoBoth(page, python.url);
    // The page asks for a resumable session: its first handshake offers subprotocols, Python's server selects none,
    // and the browser fails that handshake (the server saw it open, then end); the client dials again at once, plainly.
    expect(await python.next('open')).toEqual({ event: 'open', path: '/ws' });
    expect(await python.next('close')).toEqual({ event: 'close', code: 1006, reason: '', kinds: [] });
    expect(await python.next('open')).toEqual({ event: 'open', path: '/ws' });
    expect(await python.next('close')).toEqual({ event: 'close', code: 1000, reason: 'Disconnect button', kinds: ['text', 'binary'] });
    // Exactly what was sent came back: no ping went out, and nothing came twice.
    expect(await echoes(page)).toEqual(['from a file ✓', binaryLine('bytes')]);
    await page.close();
    await python.kill('SIGTERM');
    // Chromium's own console line for that first handshake, and nothing else.
    expect(errors).toEqual([expect.stringContaining("Sent non-empty 'Sec-WebSocket-Protocol' header but no response was received")]);
  });
});
