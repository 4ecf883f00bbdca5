/** The chat example's page in Chromium: two people, one room, messages and presence. */
import type { Page } from 'playwright-core';
import { launchChromium } from './chromium';
import { logLine, waitForStatus, watchErrors } from './pages';
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

  it('disconnects with 1000, and the others see one fewer online', async () => {
    await bob.click('#disconnect');
    await logLine(bob, 'close', 'code=1000 (normal closure) reason="Disconnect button" wasClean=true').waitFor();
    await waitForStatus(bob, 'CLOSED');
    await ann.locator('#online', { hasText: /^1$/ }).waitFor();
    await chat.waitForLine(/ close 127\.0\.0\.1 "bob" code=1000 reason="Disconnect button"$/);
  });

  it('logged no page errors', () => {
    expect(errors).toEqual([]);
  });
});
