/**
 * The echo example started with --deflate: Chromium (which offers
 * permessage-deflate on every WebSocket) gets exact echoes, compressed; a
 * client that writes and never reads keeps the server's RSS growth under
 * 64 MiB for 10 s of 16 KiB frames, as without compression.
 */
import { randomBytes } from 'node:crypto';
import { inflateRawSync, constants } from 'node:zlib';
import { rawClient } from '../support/net';
import { launchChromium } from './chromium';
import { startEcho, type EchoProcess } from './echo-process';
import { flood, readFrames, rss } from './flood';

const MiB = 1024 * 1024;


describe('the echo example with --deflate', () => {
  let echo: EchoProcess;
  beforeAll(async () => {
    echo = await startEcho(['--deflate', '--heartbeat-ms', '0']);
  });
  afterAll(async () => {
    if (echo !== undefined) expect(await echo.stop()).toBe(0);
  });

  it('echoes exactly to Chromium, which negotiates permessage-deflate itself', async () => {
    const browser = await launchChromium();
    try {
      const page = await browser.context.newPage();
      await page.goto(`${echo.origin}/`);
      const result = await page.evaluate(async (url) => {
        const rows = Array.from({ length: 3000 }, (_, i) => ({ id: i, name: `item ${i} ✓`, tags: ['a', 'b'] }));
        const bytes = new Uint8Array(256 * 1024);
        for (let i = 0; i < bytes.length; i += 65536) crypto.getRandomValues(bytes.subarray(i, i + 65536));
        const sent: (string | Uint8Array)[] = ['small', JSON.stringify(rows), 'é€𝄞'.repeat(50_000), bytes, JSON.stringify(rows.slice(0, 10))];
        const ws = new WebSocket(url);
        ws.binaryType = 'arraybuffer';
        const got: (string | Uint8Array)[] = [];
        await new Promise<void>((resolve, reject) => {
          ws.onerror = () => reject(new Error('socket error'));
          ws.onopen = () => {
            for (const m of sent) ws.send(m);
          };
          ws.onmessage = (event) => {
            got.push(typeof event.data === 'string' ? event.data : new Uint8Array(event.data as ArrayBuffer));
            if (got.length === sent.length) resolve();
          };
        });
        const same = (a: string | Uint8Array, b: string | Uint8Array) =>
          typeof a === 'string' ? a === b : typeof b !== 'string' && a.length === b.length && a.every((x, i) => x === b[i]);
        const extensions = ws.extensions;
        ws.close(1000, 'done');
        return { extensions, exact: sent.map((m, i) => same(m, got[i]!)), kinds: got.map((m) => typeof m) };
      }, echo.wsUrl);
      expect(result.extensions).toBe('permessage-deflate');
      expect(result.exact).toEqual([true, true, true, true, true]);
      expect(result.kinds).toEqual(['string', 'string', 'string', 'object', 'string']);
      await echo.waitForLine(/ close 127\.0\.0\.1:\d+ code=1000 reason="done" clean=true$/);
    } finally {
      await browser.close();
    }
  }, 60_000);

  it('keeps its RSS growth under 64 MiB over 10 s of 16 KiB frames from a client that never reads, then echoes every frame in order', async () => {
    // Each echo compressed on its own (the client asks for no server context takeover), so random frames stay 16 KiB.
    const { socket: client } = await rawClient(echo.port, '/ws', 'Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n');
    const before = rss(echo.pid);
    let most = before;
    const noise = randomBytes(64 * 1024);
    const payload = (i: number) => {
      const at = (i * 7919) % (noise.length - 16 * 1024);
      return Buffer.concat([Buffer.from(String(i).padStart(10, '0')), noise.subarray(at, at + 16 * 1024 - 10)]);
    };
    const writer = flood(client, payload);
    const sampler = setInterval(() => (most = Math.max(most, rss(echo.pid))), 50);
    await new Promise((resolve) => setTimeout(resolve, 10_000));
    writer.stop();
    const written = writer.written();
    clearInterval(sampler);
    const growth = most - before;
    process.stdout.write(`deflate echo RSS ${Math.round(before / MiB)} MiB -> peak ${Math.round(most / MiB)} MiB (+${(growth / MiB).toFixed(1)} MiB) while ${written} x 16 KiB frames were pushed\n`);
    expect(growth).toBeLessThan(64 * MiB);
    expect(written).toBeGreaterThan(10);

    // Now read: every frame comes back once, compressed, in order.
    const got: number[] = [];
    let compressed = 0;
    readFrames(client, (frame) => {
      if (frame.opcode !== 2) return;
      let data = frame.payload;
      if (frame.rsv === 4) {
        compressed++;
        data = inflateRawSync(Buffer.concat([data, Buffer.from([0, 0, 0xff, 0xff])]), { finishFlush: constants.Z_SYNC_FLUSH });
      }
      got.push(Number(data.subarray(0, 10).toString()));
    });
    await writer.done;
    while (got.length < written) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(got).toEqual(Array.from({ length: written }, (_, i) => i));
    expect(compressed).toBe(written);
    client.destroy();
  }, 60_000);
});
