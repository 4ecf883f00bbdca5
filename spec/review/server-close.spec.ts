/**
 * Review: server.close() keeps to its deadline.
 */
import { randomBytes } from 'node:crypto';
import { listen } from '../support/net';
import { rawExchange } from '../support/raw';

describe('review: server.close() deadline', () => {
  it('server.close({ timeout }) answers upgrades still waiting for authenticate (503) and resolves within its deadline, not at handshakeTimeout', async () => {
    const { server, port } = await listen({ authenticate: () => new Promise<never>(() => {}), handshakeTimeout: 4000 });
    const request = [
      'GET /ws HTTP/1.1',
      `Host: 127.0.0.1:${port}`,
      'Upgrade: websocket',
      'Connection: Upgrade',
      `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}`,
      'Sec-WebSocket-Version: 13',
      '',
      '',
    ].join('\r\n');
    const reply = rawExchange(port, [request], { timeoutMs: 10_000 });
    await new Promise((resolve) => setTimeout(resolve, 100)); // the upgrade is in, authenticate is thinking
    const started = Date.now();
    await server.close({ timeout: 100 });
    const took = Date.now() - started;
    expect((await reply).status).toBe(503);
    expect(took).toBeLessThan(2000);
  }, 15_000);
});
