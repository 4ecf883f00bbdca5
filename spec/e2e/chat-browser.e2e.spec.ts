/** The chat example's page in Chromium: two people, one room, messages and presence. */
import type { Page } from 'playwright-core';
import { launchChromium } from './chromium';
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
    page.on('pageerror', (err) => errors.push(err.message));
    page.on('console', (msg) => msg.type() === 'error' && errors.push(msg.text()));
    await page.goto(`http://127.0.0.1:${chat.port}/`);
    await page.fill('#name', name);
    await page.click('#connect');
    await page.locator('#ready-state', { hasText: /^OPEN$/ }).waitFor();
    return page;
  }

  it('delivers a message to everyone in the room, with its sender, and counts who is online', async () => {
    const ann = await join('ann');
    const bob = await join('bob');
    for (const page of [ann, bob]) await page.locator('#online', { hasText: /^2$/ }).waitFor();
    await ann.fill('#message', 'hello from ann');
    await ann.press('#message', 'Enter');
    for (const page of [ann, bob]) {
      const line = page.locator('#log .line.received').filter({ hasText: 'hello from ann' }).last();
      await line.waitFor();
      expect(await line.locator('.kind').textContent()).toBe('ann');
    }
    expect(await ann.locator('#log .line.mine').count()).toBe(1); // ann's own line is marked as hers
    await bob.click('#disconnect');
    await bob.locator('#log .line.close', { hasText: 'code=1000' }).waitFor();
    await ann.locator('#online', { hasText: /^1$/ }).waitFor();
    expect(errors).toEqual([]);
  });
});
