/**
 * The echo example's test page in a real browser: Debian's Chromium driven by
 * playwright-core (no downloaded browser). Also takes the README's screenshot: into
 * .tmp/echo-page.png, or docs/echo-page.png with UPDATE_SCREENSHOTS=1 (so CI leaves the tree clean).
 */
import { mkdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Page } from 'playwright-core';
import { launchChromium } from './chromium';
import { ROOT, startEcho, type EchoProcess } from './echo-process';

const SCREENSHOT = join(ROOT, process.env.UPDATE_SCREENSHOTS === '1' ? 'docs' : '.tmp', 'echo-page.png');

/** UTF-8 bytes of `text` as the page shows them: `binary N bytes: 68 69 ...`. */
function binaryLine(text: string): string {
  const bytes = Buffer.from(text, 'utf8');
  return `binary ${bytes.length} bytes: ${[...bytes].map((b) => b.toString(16).padStart(2, '0')).join(' ')}`;
}

const exactly = (text: string) => new RegExp(`^${text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`);

describe('echo page in Chromium (e2e)', () => {
  let echo: EchoProcess;
  let browser: Awaited<ReturnType<typeof launchChromium>> | undefined;
  let page: Page;
  const pageErrors: string[] = [];

  /** Waits for a log line of `kind` whose payload is exactly `payload` (or matches it). */
  const logLine = (kind: string, payload: string | RegExp) =>
    page
      .locator(`#log .line.${kind}`)
      .filter({ has: page.locator('.payload', { hasText: typeof payload === 'string' ? exactly(payload) : payload }) })
      .last();
  const readyState = (name: string) => page.locator('#ready-state', { hasText: exactly(name) }).waitFor();

  beforeAll(async () => {
    echo = await startEcho(['--heartbeat-ms', '1000']);
    browser = await launchChromium();
    page = browser.context.pages()[0] ?? (await browser.context.newPage());
    page.setDefaultTimeout(10_000);
    page.on('pageerror', (err) => pageErrors.push(err.message));
    page.on('console', (msg) => {
      if (msg.type() === 'error') pageErrors.push(msg.text());
    });
  });

  afterAll(async () => {
    await browser?.close();
    if (echo !== undefined) expect(await echo.stop()).toBe(0);
  });

  it('serves the page with the socket URL of its own host and only Connect enabled', async () => {
    const response = await page.goto(`${echo.origin}/`);
    expect(response?.status()).toBe(200);
    expect(await page.title()).toBe('rxws echo');
    expect(await page.inputValue('#url')).toBe(echo.wsUrl);
    expect(await page.textContent('#ready-state')).toBe('CLOSED');
    expect(await page.isEnabled('#connect')).toBe(true);
    expect(await page.isDisabled('#disconnect')).toBe(true);
    expect(await page.isDisabled('#send')).toBe(true);
  });

  it('connects: readyState OPEN, an open line, Send and Disconnect enabled', async () => {
    await page.click('#connect');
    await readyState('OPEN');
    await logLine('open', echo.wsUrl).waitFor();
    expect(await page.isDisabled('#connect')).toBe(true);
    expect(await page.isEnabled('#disconnect')).toBe(true);
    expect(await page.isEnabled('#send')).toBe(true);
    await echo.waitForLine(/ open 127\.0\.0\.1:\d+ \/ws$/);
  });

  it('sends a text message (Enter) and shows its echo', async () => {
    const text = 'hello from Chromium ✓';
    await page.fill('#message', text);
    await page.press('#message', 'Enter');
    await logLine('sent', text).waitFor();
    await logLine('received', text).waitFor();
  });

  it('shows the server\'s heart beat', async () => {
    await logLine('received', 'heart beat').waitFor({ timeout: 5_000 });
  });

  it('sends binary and gets binary back', async () => {
    const text = 'bytes ✓ rxws';
    await page.check('#binary');
    await page.fill('#message', text);
    await page.click('#send');
    await logLine('sent', binaryLine(text)).waitFor();
    await logLine('received', binaryLine(text)).waitFor();
    // A text echo would show the text itself.
    expect(await logLine('received', text).count()).toBe(0);
    await page.uncheck('#binary');
  });

  it('shows a live bufferedAmount', async () => {
    await page.locator('#buffered-amount', { hasText: /^0$/ }).waitFor();
  });

  it('takes a screenshot for the README', async () => {
    await page.fill('#message', 'rxws: WebSockets as RxJS streams');
    await page.press('#message', 'Enter');
    await logLine('received', 'rxws: WebSockets as RxJS streams').waitFor();
    // Let the view settle on a state that shows all kinds of traffic, with a heart beat after the last echo.
    const beats = page.locator('#log .line.heartbeat');
    await beats.nth(await beats.count()).waitFor({ timeout: 5_000 });
    await page.fill('#message', '');
    await page.locator('#message').blur();
    mkdirSync(dirname(SCREENSHOT), { recursive: true });
    await page.screenshot({ path: SCREENSHOT });
    expect(statSync(SCREENSHOT).size).toBeGreaterThan(10_000);
  });

  it('disconnects: close code 1000, wasClean, readyState CLOSED, Connect enabled again', async () => {
    await page.click('#disconnect');
    const close = page.locator('#log .line.close').last();
    await close.waitFor();
    const text = await close.textContent();
    expect(text).toContain('code=1000');
    expect(text).toContain('reason="Disconnect button"');
    expect(text).toContain('wasClean=true');
    await readyState('CLOSED');
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
