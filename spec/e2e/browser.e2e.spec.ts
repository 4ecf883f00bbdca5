/**
 * The echo example's page in a real browser: Debian's Chromium driven by
 * playwright-core (no downloaded browser). The page runs rxws's browser
 * `connect()`, bundled into dist/examples/echo/index.html by `npm run build`.
 * Also takes the README's screenshot: into .tmp/echo-page.png, or
 * docs/echo-page.png with UPDATE_SCREENSHOTS=1 (so CI leaves the tree clean).
 */
import { mkdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Page } from 'playwright-core';
import { launchChromium } from './chromium';
import { ROOT, startEcho, type EchoProcess } from './echo-process';
import { logLine, waitForStatus, watchErrors } from './pages';

const SCREENSHOT = join(ROOT, process.env.UPDATE_SCREENSHOTS === '1' ? 'docs' : '.tmp', 'echo-page.png');

/** UTF-8 bytes of `text` as the page shows them: `binary N bytes: 68 69 ...`. */
function binaryLine(text: string): string {
  const bytes = Buffer.from(text, 'utf8');
  return `binary ${bytes.length} bytes: ${[...bytes].map((b) => b.toString(16).padStart(2, '0')).join(' ')}`;
}

/**
 * Types `text` and presses Enter; waits for its line, which shows `shown`: a
 * `sent` line, or a `queued` one while the client has no open connection.
 */
async function send(page: Page, text: string, as: 'sent' | 'queued' = 'sent', shown = text): Promise<void> {
  await page.fill('#message', text);
  await page.press('#message', 'Enter');
  await logLine(page, as === 'queued' ? 'sent.queued' : 'sent:not(.queued)', shown).waitFor();
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
    expect(await page.title()).toBe('rxws echo');
    expect(await page.inputValue('#url')).toBe(echo.wsUrl);
    expect(await page.textContent('#status')).toBe('CLOSED');
    expect(await page.textContent('#queued')).toBe('0');
    expect(await page.isEnabled('#connect')).toBe(true);
    expect(await page.isChecked('#app-heartbeat')).toBe(true);
    expect(await page.isDisabled('#disconnect')).toBe(true);
    expect(await page.isDisabled('#send')).toBe(true);
    // The script and the style sheet are in the page: nothing else is fetched.
    expect(requests).toEqual([`${echo.origin}/`]);
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
    const text = 'bytes ✓ rxws';
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
    await send(page, 'rxws: WebSockets as RxJS streams');
    await logLine(page, 'received', 'rxws: WebSockets as RxJS streams').waitFor();
    // Let the view settle on a state that shows all kinds of traffic, with a heart beat after the last echo.
    const beats = page.locator('#log .line.heartbeat');
    await beats.nth(await beats.count()).waitFor({ timeout: 5_000 });
    await page.fill('#message', '');
    await page.locator('#message').blur();
    mkdirSync(dirname(SCREENSHOT), { recursive: true });
    await page.screenshot({ path: SCREENSHOT });
    expect(statSync(SCREENSHOT).size).toBeGreaterThan(10_000);
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

  it('logged no page errors', () => {
    expect(pageErrors).toEqual([]);
  });
});
