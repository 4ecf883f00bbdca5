/**
 * The examples' observability end to end: the built echo server's GET /metrics
 * parses as Prometheus text and its values match the traffic a test made, and
 * the page's live panel (GET /metrics.json, from the server's metrics$())
 * follows it in Chromium.
 */
import { get } from 'node:http';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import type { Page } from 'playwright-core';
import { WebSocket } from 'ws';
import { launchChromium } from './chromium';
import { startEcho, type EchoProcess } from './echo-process';
import { waitForStatus, waitUntil, watchErrors } from './pages';

function fetchText(url: string): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    get(url, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }));
    }).on('error', reject);
  });
}

function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const family = parsePrometheusTextFormat(text).find((f) => f.name === name);
  const found = family?.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v));
  return found === undefined ? undefined : Number(found.value);
}

function openClient(url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

describe('the echo example: /metrics and the live panel (e2e)', () => {
  let echo: EchoProcess;
  let browser: Awaited<ReturnType<typeof launchChromium>> | undefined;
  const clients: WebSocket[] = [];

  beforeAll(async () => {
    echo = await startEcho(['--heartbeat-ms', '0']); // no heart beats: every frame out is an echo
  });

  afterAll(async () => {
    for (const ws of clients) ws.terminate();
    await browser?.close();
    if (echo !== undefined) expect(await echo.stop()).toBe(0);
  });

  it('serves Prometheus text at /metrics whose values match the traffic: 3 open, 5 in, one closed with 4000', async () => {
    for (let i = 0; i < 3; i++) clients.push(await openClient(echo.wsUrl));
    let echoed = 0;
    for (const ws of clients) ws.on('message', () => echoed++);
    for (let i = 0; i < 5; i++) clients[i % 3]!.send(`m${i}`);
    await waitUntil(async () => echoed === 5, 'five echoes');
    const first = clients.shift()!;
    await new Promise<void>((resolve) => (first.once('close', () => resolve()), first.close(4000, 'bye')));

    let text = '';
    await waitUntil(async () => sample((text = (await fetchText(`${echo.origin}/metrics`)).body), 'rxjs_ws_open_sockets') === 2, 'the close counted');
    const { status, type } = await fetchText(`${echo.origin}/metrics`);
    expect(status).toBe(200);
    expect(type).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(parsePrometheusTextFormat(text).length).toBeGreaterThan(10);
    expect(sample(text, 'rxjs_ws_upgrades_accepted_total')).toBe(3);
    expect(sample(text, 'rxjs_ws_messages_received_total')).toBe(5);
    expect(sample(text, 'rxjs_ws_messages_sent_total')).toBe(5);
    expect(sample(text, 'rxjs_ws_closes_total', { code: '4xxx' })).toBe(1);
    expect(sample(text, 'rxjs_ws_upgrades_refused_total', { reason: 'origin' })).toBe(0);
  });

  it("shows the server's connections, messages/s and drops on the page, live", async () => {
    browser = await launchChromium();
    const page: Page = browser.context.pages()[0] ?? (await browser.context.newPage());
    page.setDefaultTimeout(10_000);
    const errors: string[] = [];
    watchErrors(page, errors);
    await page.goto(`${echo.origin}/`);
    const text = (id: string) => page.textContent(`#${id}`).then((t) => t ?? '');
    await waitUntil(async () => (await text('m-connections')) === '2', 'the panel shows the 2 clients');
    expect(await text('m-drops')).toBe('0');

    await page.click('#connect');
    await waitForStatus(page, 'OPEN');
    await waitUntil(async () => (await text('m-connections')) === '3', 'the panel counts the page');
    // Traffic: the panel's messages/s moves off 0 while it flows.
    const flood = setInterval(() => clients[0]!.send('x'), 10);
    try {
      await waitUntil(async () => Number(await text('m-rate')) > 0, 'messages/s above 0');
    } finally {
      clearInterval(flood);
    }
    expect(await page.getAttribute('#metrics-panel', 'data-state')).toBe('live');
    expect(errors).toEqual([]);
  });
});
