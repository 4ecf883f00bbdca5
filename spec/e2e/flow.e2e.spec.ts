import { WebSocket } from 'ws';
import { rawClient } from '../support/net';
import { startEcho, type EchoProcess } from './echo-process';
import { flood, readFrames, rss } from './flood';


const MiB = 1024 * 1024;

describe('the echo example under a client that writes and never reads', () => {
  let echo: EchoProcess;
  beforeAll(async () => {
    echo = await startEcho(); // default options
  });
  afterAll(async () => {
    expect(await echo.stop()).toBe(0);
  });

  it('keeps its RSS growth under 64 MiB, serves others meanwhile, then echoes every frame in order', async () => {
    const { socket: client } = await rawClient(echo.port);
    const before = rss(echo.pid);
    let most = before;
    // Write 16 KiB binary frames whenever our socket takes them, for 4 s, never reading.
    const payload = (i: number) => Buffer.concat([Buffer.from(String(i).padStart(10, '0')), Buffer.alloc(16 * 1024 - 10, i & 0xff)]);
    const writer = flood(client, payload);
    const sampler = setInterval(() => (most = Math.max(most, rss(echo.pid))), 50);

    // Another client is served normally while the flood is held back.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const other = new WebSocket(echo.wsUrl);
    await new Promise((resolve, reject) => (other.once('open', resolve), other.once('error', reject)));
    const echoed = new Promise<string>((resolve) =>
      other.on('message', (data, isBinary) => {
        if (!isBinary && data.toString() !== 'heart beat') resolve(data.toString());
      }),
    );
    other.send('still served');
    expect(await echoed).toBe('still served');
    other.close(1000);

    await new Promise((resolve) => setTimeout(resolve, 3000));
    writer.stop();
    const written = writer.written();
    // The last write may be waiting for a drain that only comes once the server reads again.
    clearInterval(sampler);
    const growth = most - before;
    expect(growth).toBeLessThan(64 * MiB);
    expect(written).toBeGreaterThan(10);

    // Now read: every frame comes back once, in order (heart beats interleave as text).
    const got: number[] = [];
    readFrames(client, (frame) => {
      if (frame.opcode === 2) got.push(Number(frame.payload.subarray(0, 10).toString()));
    });
    await writer.done; // its last write completes once the server reads again
    while (got.length < written) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(got).toEqual(Array.from({ length: written }, (_, i) => i));
    client.destroy();
    process.stdout.write(`echo RSS ${Math.round(before / MiB)} MiB -> peak ${Math.round(most / MiB)} MiB (+${(growth / MiB).toFixed(1)} MiB) while ${written} x 16 KiB frames were pushed\n`);
  }, 30_000);
});
