/** Reading the example pages (dist/examples/<name>/index.html) from the Chromium suites. */
import type { Locator, Page } from 'playwright-core';

/** A RegExp matching exactly `text`. */
export const exactly = (text: string): RegExp => new RegExp(`^${text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`);

/**
 * Collects the page's uncaught errors and console errors into `errors`; not
 * the live panel's polls of /metrics.json that failed while the server was
 * down or the browser offline (Chromium logs those itself; the panel shows –).
 */
export function watchErrors(page: Page, errors: string[]): void {
  page.on('pageerror', (err) => errors.push(err.message));
  page.on('console', (msg) => {
    if (msg.type() === 'error' && !msg.location().url.endsWith('/metrics.json')) errors.push(msg.text());
  });
}

/** The last log line of `kind` whose payload is exactly `payload` (or matches it). */
export function logLine(page: Page, kind: string, payload: string | RegExp): Locator {
  return page
    .locator(`#log .line.${kind}`)
    .filter({ has: page.locator('.payload', { hasText: typeof payload === 'string' ? exactly(payload) : payload }) })
    .last();
}

/** Waits until the status badge says `name` (CONNECTING, OPEN, RECONNECTING, CLOSED). */
export function waitForStatus(page: Page, name: string, timeout?: number): Promise<void> {
  return page.locator('#status', { hasText: exactly(name) }).waitFor(timeout === undefined ? {} : { timeout });
}

/** The payloads of the log lines `selector` picks, in order. */
export function payloads(page: Page, selector: string): Promise<string[]> {
  return page.locator(`#log ${selector} .payload`).allTextContents();
}

/** Polls `check` every 50 ms until it holds; fails with `what` after `timeoutMs`. */
export async function waitUntil(check: () => Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
