/** The chat example's page in Chromium: two people, one room, messages and presence, and a server restart. */
import type { Page } from 'playwright-core';
import { launchChromium } from './chromium';
import { logLine, payloads, waitForStatus, waitUntil, watchErrors } from './pages';
import { startChat, type ChatProcess } from './peers/chat-process';

describe('chat page in Chromium (e2e)', () => {
  let chat: ChatProcess;
  let browser: Awaited<ReturnType<typeof launchChromium>> | undefined;
  const errors: string[] = [];

  beforeAll(async () => {
    chat = await startChat([]);
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    if (chat !== undefined) expect(await chat.stop()).toBe(0);
  });

  async function join(name: string): Promise<Page> {
    const page = await browser!.context.newPage();
    page.setDefaultTimeout(10_000);
    watchErrors(page, errors);
    await page.goto(`http://127.0.0.1:${chat.port}/`);
    expect(await page.inputValue('#url')).toBe(chat.wsUrl);
    await page.fill('#name', name);
    await page.click('#connect');
    await waitForStatus(page, 'OPEN');
    await logLine(page, 'open', `${chat.wsUrl}?name=${name}`).waitFor();
    return page;
  }

  async function say(page: Page, text: string): Promise<void> {
    await page.fill('#message', text);
    await page.press('#message', 'Enter');
  }

  /** Messages `page` received, as `from: text`. */
  async function heard(page: Page): Promise<string[]> {
    const lines = page.locator('#log .line.received');
    const from = await lines.locator('.kind').allTextContents();
    return (await payloads(page, '.line.received')).map((text, i) => `${from[i]}: ${text}`);
  }

  let ann: Page;
  let bob: Page;

  it('delivers a message to everyone in the room, with its sender, and counts who is online', async () => {
    ann = await join('ann');
    bob = await join('bob');
    for (const page of [ann, bob]) await page.locator('#online', { hasText: /^2$/ }).waitFor();
    await say(ann, 'hello from ann');
    for (const page of [ann, bob]) {
      const line = page.locator('#log .line.received').filter({ hasText: 'hello from ann' }).last();
      await line.waitFor();
      expect(await line.locator('.kind').textContent()).toBe('ann');
    }
    expect(await ann.locator('#log .line.mine').count()).toBe(1); // ann's own line is marked as hers
    expect(await bob.locator('#log .line.mine').count()).toBe(0);
    await ann.locator('#sent-count', { hasText: /^1$/ }).waitFor();
    await bob.locator('#received-count', { hasText: /^1$/ }).waitFor();
  });

  it('survives a server restart: a message said while it is down is queued, then goes to the room once, in order', async () => {
    const port = chat.port;
    expect(await chat.stop()).toBe(0); // SIGTERM: 1001 to everyone
    for (const page of [ann, bob]) {
      await waitForStatus(page, 'RECONNECTING');
      await page.locator('#online', { hasText: /^–$/ }).waitFor();
    }
    await say(ann, 'said while the server was down');
    await logLine(ann, 'sent.queued', 'said while the server was down').waitFor();
    expect(await ann.textContent('#queued')).toBe('1');

    chat = await startChat(['--port', String(port)]);
    for (const page of [ann, bob]) {
      await waitForStatus(page, 'OPEN', 15_000);
      await page.locator('#online', { hasText: /^2$/ }).waitFor();
    }
    await say(bob, 'welcome back');
    const queued = 'ann: said while the server was down';
    const expected = ['ann: hello from ann', queued, 'bob: welcome back'];
    await waitUntil(async () => (await heard(ann)).length >= expected.length, 'ann heard every message');
    await waitUntil(async () => (await heard(bob)).includes('bob: welcome back'), 'bob heard his own message');
    await new Promise((resolve) => setTimeout(resolve, 300)); // a duplicate would come right behind
    expect(await heard(ann)).toEqual(expected);
    // The room hears ann's queued message when her client is back: bob, if his was back before hers.
    const bobHeard = await heard(bob);
    expect(bobHeard.filter((line) => line !== queued)).toEqual(['ann: hello from ann', 'bob: welcome back']);
    expect(bobHeard.filter((line) => line === queued).length).toBeLessThanOrEqual(1);
    expect(await ann.textContent('#queued')).toBe('0');
  });

  it('disconnects with 1000, and the others see one fewer online', async () => {
    await bob.click('#disconnect');
    await logLine(bob, 'close', 'code=1000 (normal closure) reason="Disconnect button" wasClean=true').waitFor();
    await waitForStatus(bob, 'CLOSED');
    await ann.locator('#online', { hasText: /^1$/ }).waitFor();
    await chat.waitForLine(/ close 127\.0\.0\.1 "bob" code=1000 reason="Disconnect button"$/);
  });

  it('logged no page errors (but the refused attempts while the server was down, which Chromium logs itself)', () => {
    const refused = /^WebSocket connection to 'ws:\/\/127\.0\.0\.1:\d+\/ws\?name=\w+' failed: Error in connection establishment: net::ERR_CONNECTION_REFUSED$/;
    expect(errors.filter((e) => !refused.test(e))).toEqual([]);
  });
});
