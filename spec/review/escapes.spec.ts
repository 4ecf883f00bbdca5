/**
 * Review: nothing a peer sends reaches the process as an uncaught exception.
 */
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { listen } from '../support/net';
import { rawExchange, trapEscapes } from '../support/raw';

const escaped = trapEscapes();

function upgradeRequest(port: number, origin: string): string {
  return [
    'GET /ws HTTP/1.1',
    `Host: 127.0.0.1:${port}`,
    'Upgrade: websocket',
    'Connection: Upgrade',
    `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}`,
    'Sec-WebSocket-Version: 13',
    `Origin: ${origin}`,
    '',
    '',
  ].join('\r\n');
}

describe('review: errors that escape', () => {
  it('an origin predicate that throws on a malformed Origin refuses that upgrade (403) instead of throwing out of the server', async () => {
    // The natural way to write a subdomain check; `new URL()` throws on a malformed header.
    const { server, port } = await listen({ origin: (origin) => new URL(origin).hostname.endsWith('.example.com') });
    const accepted = new Set<Socket>();
    server.http!.on('connection', (socket: Socket) => accepted.add(socket));
    const reply = await rawExchange(port, [upgradeRequest(port, 'not a url')], { timeoutMs: 1000 });
    // Unanswered, the upgrade's socket would stay open and hold server.close() for ever: release it here.
    for (const socket of accepted) socket.destroy();
    const thrown = escaped.splice(0).map((e) => `${e.kind}: ${String(e.error)}`);
    expect(thrown).toEqual([]);
    expect(reply.status).toBe(403);
  });
});
