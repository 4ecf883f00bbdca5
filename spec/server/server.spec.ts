import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { config, delay as rxDelay, firstValueFrom, of, take, type Observable } from 'rxjs';
import { WebSocket, WebSocketServer } from 'ws';
import { CloseCode, InvalidArgumentError, refuse, serve, type CloseInfo, type RxSocket } from '../../src';
import { closed, delay, get, listen, nextMessage, open, rawClient, shutdown, upgradeStatus } from '../support/net';

function echo<A>(socket: RxSocket<A>) {
  socket.messages$.subscribe(socket);
}

describe('serve()', () => {
  it('echoes text and binary frames over a real socket, keeping their kind', async () => {
    const { server, url } = await listen({ path: '/ws' });
    server.connections$.subscribe(echo);
    const client = await open(url());
    client.send('hello');
    expect(await nextMessage(client)).toEqual({ data: Buffer.from('hello'), isBinary: false });
    client.send(Buffer.from([0xde, 0xad]));
    expect(await nextMessage(client)).toEqual({ data: Buffer.from([0xde, 0xad]), isBinary: true });
    await shutdown(server, client);
  });

  it('binds port 0 and reports the address', async () => {
    const server = serve({ port: 0 });
    const address = await server.listening;
    expect(address.port).toBeGreaterThan(0);
    expect(server.address()).toEqual(address);
    await server.close();
  });

  it('rejects contradictory and bad options when created', () => {
    expect(() => serve({})).toThrow('Expected exactly one of the `port`, `server` or `wss` options');
    expect(() => serve({ port: 0, server: createServer() })).toThrow(InvalidArgumentError);
    expect(() => serve({ port: -1 })).toThrow('Expected `port` to be an integer in [0, 65535], got `-1` (number)');
    expect(() => serve({ port: 0, path: 'ws' })).toThrow('Expected `path` to be a string starting with "/", got `"ws"` (string)');
    expect(() => serve({ port: 0, maxPayload: 0 })).toThrow(/Expected `maxPayload` to be an integer >= 1/);
    expect(() => serve({ port: 0, origin: 42 as never })).toThrow(/Expected `origin` to be "same-origin", "any"/);
    expect(() => serve({ port: 0, origin: ['not a url'] })).toThrow(/Expected `origin\[0\]` to be an origin/);
    expect(() => serve({ port: 0, outbound: { policy: 'drop' as never } })).toThrow(/Expected `outbound.policy` to be one of/);
  });

  it('rejects listening when the port is taken, and errors connections$', async () => {
    const { server, port } = await listen();
    const second = serve({ port });
    const errors: unknown[] = [];
    second.connections$.subscribe({ error: (e) => errors.push(e) });
    await expect(second.listening).rejects.toThrow(/EADDRINUSE/);
    expect(errors).toHaveLength(1);
    await second.close();
    await server.close();
  });

  it('answers a plain GET on the socket path with 400 and other paths with 404', async () => {
    const { server, port } = await listen({ path: '/ws' });
    const plain = await get(`http://127.0.0.1:${port}/ws`);
    expect(plain.status).toBe(400);
    expect(plain.body).toMatch(/WebSocket endpoint/);
    expect((await get(`http://127.0.0.1:${port}/other`)).status).toBe(404);
    expect((await upgradeStatus(`ws://127.0.0.1:${port}/other`)).status).toBe(404);
    await server.close();
  });

  it('hands other plain requests to the request handler', async () => {
    const { server, port } = await listen({ path: '/ws', request: (_req, res) => res.end('page') });
    expect((await get(`http://127.0.0.1:${port}/`)).body).toBe('page');
    await server.close();
  });

  it('holds connections accepted before connections$ has a subscriber', async () => {
    const { server, url } = await listen();
    const client = await open(url());
    await delay(20);
    const socket = await firstValueFrom(server.connections$);
    expect(socket.state).toBe('open');
    await shutdown(server, client);
  });
});

describe('origin check', () => {
  it('refuses cross-origin upgrades with 403 by default and allows same-origin and no-origin', async () => {
    const { server, port, url } = await listen({ path: '/ws' });
    expect((await upgradeStatus(url(), { Origin: 'http://evil.example' })).status).toBe(403);
    expect((await upgradeStatus(url(), { Origin: `http://127.0.0.1:${port}` })).status).toBe(101);
    expect((await upgradeStatus(url())).status).toBe(101);
    expect((await upgradeStatus(url(), { Origin: `http://127.0.0.1:${port + 1}` })).status).toBe(403);
    // Like gorilla's check, host:port is compared, not the scheme, so a TLS-terminating proxy still works.
    expect((await upgradeStatus(url(), { Origin: `https://127.0.0.1:${port}` })).status).toBe(101);
    expect((await upgradeStatus(url(), { Origin: `http://localhost:${port}` })).status).toBe(403);
    await server.close();
  });

  it('refuses Origin: null and malformed origins without crashing', async () => {
    const logged: string[] = [];
    const { server, url } = await listen({ path: '/ws', log: (l) => logged.push(l) });
    for (const origin of ['null', 'not a url', '://', 'http://']) {
      expect((await upgradeStatus(url(), { Origin: origin })).status).toBe(403);
    }
    expect(logged).toHaveLength(4);
    expect(logged[0]).toMatch(/^upgrade refused 403 from 127\.0\.0\.1 \/ws: origin "null" not allowed$/);
    await server.close();
  });

  it('takes an allow-list or a predicate', async () => {
    const listed = await listen({ origin: ['https://app.example.com'] });
    expect((await upgradeStatus(listed.url(), { Origin: 'https://app.example.com' })).status).toBe(101);
    expect((await upgradeStatus(listed.url(), { Origin: 'https://app.example.com:443' })).status).toBe(101);
    expect((await upgradeStatus(listed.url(), { Origin: 'https://evil.example.com' })).status).toBe(403);
    await listed.server.close();
    const predicate = await listen({ origin: (origin) => origin.endsWith('.trusted.test') });
    expect((await upgradeStatus(predicate.url(), { Origin: 'http://a.trusted.test' })).status).toBe(101);
    expect((await upgradeStatus(predicate.url(), { Origin: 'http://trusted.test.evil' })).status).toBe(403);
    await predicate.server.close();
    const any = await listen({ origin: 'any' });
    expect((await upgradeStatus(any.url(), { Origin: 'null' })).status).toBe(101);
    await any.server.close();
  });
});

describe('authenticate', () => {
  const tokenOf = (url = '') => new URL(url, 'http://x').searchParams.get('token');

  it('puts what it returns on socket.auth (sync, Promise and Observable)', async () => {
    const hooks = [
      () => ({ user: 'sync' }),
      () => Promise.resolve({ user: 'promise' }),
      () => of({ user: 'observable' }).pipe(rxDelay(5)),
    ];
    for (const authenticate of hooks) {
      const { server, url } = await listen<{ user: string }>({ authenticate });
      const accepted = firstValueFrom(server.connections$);
      const client = await open(url());
      expect((await accepted).auth.user).toBe(authenticate.toString().match(/'(\w+)'/)![1]);
      await shutdown(server, client);
    }
  });

  it('refuses with 401 (false, empty Observable) or the status given to refuse(), before any frame', async () => {
    const { server, url } = await listen({
      authenticate: (req) => {
        const token = tokenOf(req.url);
        if (token === 'ok') return { id: 1 };
        if (token === 'banned') throw refuse(403, 'Forbidden');
        if (token === 'empty') return of<{ id: number }>().pipe(take(0));
        return false;
      },
    });
    expect((await upgradeStatus(url('/ws?token=ok'))).status).toBe(101);
    expect(await upgradeStatus(url('/ws?token=bad'))).toEqual({ status: 401, body: 'Unauthorized\n' });
    expect(await upgradeStatus(url('/ws'))).toEqual({ status: 401, body: 'Unauthorized\n' });
    expect(await upgradeStatus(url('/ws?token=banned'))).toEqual({ status: 403, body: 'Forbidden\n' });
    expect((await upgradeStatus(url('/ws?token=empty'))).status).toBe(401);
    await server.close();
  });

  it('answers 500 without leaking the message when the hook throws, and 503 when it hangs', async () => {
    const logged: string[] = [];
    const { server, url } = await listen({
      handshakeTimeout: 100,
      log: (l) => logged.push(l),
      authenticate: (req) => {
        if (req.url?.includes('hang')) return new Promise<never>(() => {});
        throw new Error('db password is hunter2');
      },
    });
    expect(await upgradeStatus(url('/ws'))).toEqual({ status: 500, body: 'Internal Server Error\n' });
    expect(await upgradeStatus(url('/ws?hang'))).toEqual({ status: 503, body: 'Service Unavailable\n' });
    expect(logged[0]).toMatch(/500 .*authenticate failed: db password is hunter2/);
    expect(logged[1]).toMatch(/503 .*authenticate timed out/);
    await server.close();
  });

  it('rejects refuse() with a status that is not an HTTP error', () => {
    expect(() => refuse(200)).toThrow('Expected `status` to be an HTTP error status (400–599), got `200` (number)');
  });
});

describe('limits', () => {
  it('closes a socket that sends a message over maxPayload with 1009 and keeps serving others', async () => {
    const { server, url } = await listen({ maxPayload: 1024 });
    const closes: CloseInfo[] = [];
    server.connections$.subscribe((socket) => {
      echo(socket);
      socket.close$.subscribe((c) => closes.push(c));
    });
    const big = await open(url());
    const small = await open(url());
    const bigClosed = closed(big);
    big.send(Buffer.alloc(1025));
    expect((await bigClosed).code).toBe(CloseCode.MESSAGE_TOO_BIG);
    small.send('still here');
    expect((await nextMessage(small)).data.toString()).toBe('still here');
    expect(closes[0]).toMatchObject({ code: 1009, wasClean: false });
    await shutdown(server, small);
  });

  it('accepts a message of exactly maxPayload', async () => {
    const { server, url } = await listen({ maxPayload: 1024 });
    server.connections$.subscribe(echo);
    const client = await open(url());
    client.send(Buffer.alloc(1024, 7));
    expect((await nextMessage(client)).data).toEqual(Buffer.alloc(1024, 7));
    await shutdown(server, client);
  });

  it('refuses upgrades past maxConnections and maxConnectionsPerAddress with 503', async () => {
    const { server, url } = await listen({ maxConnections: 2 });
    const a = await open(url());
    const b = await open(url());
    expect((await upgradeStatus(url())).status).toBe(503);
    await shutdown(server, a, b);
    const per = await listen({ maxConnectionsPerAddress: 1 });
    const c = await open(per.url());
    expect((await upgradeStatus(per.url())).status).toBe(503);
    c.close();
    await closed(c);
    await delay(20);
    expect((await upgradeStatus(per.url())).status).toBe(101);
    await per.server.close();
  });
});

describe('a log function that throws', () => {
  let reported: unknown[];
  let before: typeof config.onUnhandledError;
  beforeEach(() => {
    reported = [];
    before = config.onUnhandledError;
    config.onUnhandledError = (err) => reported.push(err);
  });
  afterEach(() => {
    config.onUnhandledError = before;
  });

  it('is reported as RxJS reports a subscriber error, and the close it told of still happens whole', async () => {
    const { server, url } = await listen({
      rateLimit: { messages: 1 },
      log: () => {
        throw new Error('log broke');
      },
    });
    const sockets: RxSocket[] = [];
    server.connections$.subscribe((socket) => {
      sockets.push(socket);
      socket.messages$.subscribe(socket);
    });
    const client = await open(url());
    const ended = closed(client);
    for (let i = 0; i < 5; i++) client.send(`m${i}`);
    expect(await ended).toMatchObject({ code: CloseCode.POLICY_VIOLATION });
    await firstValueFrom(sockets[0]!.close$);
    expect(reported).toEqual([new Error('log broke')]);
    expect(() => sockets[0]!.next('late')).not.toThrow();
    // The server carries on.
    const again = await open(url());
    again.send('hello');
    expect((await nextMessage(again)).data.toString()).toBe('hello');
    again.close();
  });
});

describe('graceful close()', () => {
  it('sends 1001 to every client after its queued frames, waits, and completes connections$', async () => {
    const { server, url } = await listen();
    let completed = false;
    server.connections$.subscribe({ complete: () => (completed = true) });
    const clients = await Promise.all([open(url()), open(url()), open(url())]);
    const got = clients.map((c) => {
      const messages: string[] = [];
      c.on('message', (m) => messages.push(m.toString()));
      return { messages, closed: closed(c) };
    });
    for (const socket of server.sockets) socket.next('last words');
    await server.close();
    for (const g of got) {
      expect(await g.closed).toEqual({ code: 1001, reason: 'Server shutting down' });
      expect(g.messages).toEqual(['last words']);
    }
    expect(completed).toBe(true);
    expect(server.sockets.size).toBe(0);
    expect(server.http!.listening).toBe(false);
  });

  it('terminates clients that do not finish the closing handshake by the deadline', async () => {
    const { server, port } = await listen();
    const closes: CloseInfo[] = [];
    server.connections$.subscribe((s) => s.close$.subscribe((c) => closes.push(c)));
    const { socket } = await rawClient(port); // never answers the close frame
    const started = Date.now();
    await server.close({ timeout: 200 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
    expect(closes).toEqual([{ code: 1006, reason: '', wasClean: false }]);
    socket.destroy();
  });

  it('is idempotent and refuses upgrades while closing', async () => {
    const { server, url } = await listen();
    const client = await open(url());
    const first = server.close({ timeout: 500 });
    expect(server.close()).toBe(first);
    await first;
    expect(client.readyState).toBe(WebSocket.CLOSED);
  });
});

describe('attach', () => {
  it('attaches to an existing http.Server, leaving its routes and other upgrade paths alone', async () => {
    const http = createServer((_req, res) => res.end('app'));
    const other = new WebSocketServer({ noServer: true });
    http.on('upgrade', (req, socket, head) => {
      if (req.url === '/other') other.handleUpgrade(req, socket, head, (ws) => ws.close(4000, 'other'));
    });
    const server = serve({ server: http, path: '/ws' });
    server.connections$.subscribe(echo);
    http.listen(0, '127.0.0.1');
    const { port } = await server.listening;
    expect((await get(`http://127.0.0.1:${port}/`)).body).toBe('app');
    const client = await open(`ws://127.0.0.1:${port}/ws`);
    client.send('via attach');
    expect((await nextMessage(client)).data.toString()).toBe('via attach');
    const otherClient = await open(`ws://127.0.0.1:${port}/other`);
    expect(await closed(otherClient)).toEqual({ code: 4000, reason: 'other' });
    await shutdown(server, client);
    expect(http.listening).toBe(true); // not ours to close
    expect(http.listenerCount('upgrade')).toBe(1);
    other.close();
    await new Promise((resolve) => http.close(resolve));
  });

  it('adopts the connections of an existing WebSocketServer', async () => {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await new Promise((resolve) => wss.once('listening', resolve));
    const server = serve({ wss });
    server.connections$.subscribe(echo);
    const client = await open(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`);
    client.send('adopted');
    expect((await nextMessage(client)).data.toString()).toBe('adopted');
    const done = closed(client);
    await server.close();
    expect((await done).code).toBe(1001);
    expect(wss.listenerCount('connection')).toBe(0);
    await new Promise((resolve) => wss.close(resolve));
  });
});

describe('teardown over real sockets', () => {
  it('releases every socket, listener and subscription after 200 open/close cycles', async () => {
    const { server, url } = await listen({ handshakesPerAddress: Infinity });
    let live = 0;
    const seen: RxSocket[] = [];
    server.connections$.subscribe((socket) => {
      seen.push(socket);
      for (const stream of [socket.messages$, socket.close$, socket.writable$] as Observable<unknown>[]) {
        live++;
        stream.subscribe({ error: () => live--, complete: () => live-- });
      }
      echo(socket);
    });
    for (let i = 0; i < 200; i++) {
      const client = await open(url());
      client.send('x');
      await nextMessage(client);
      if (i % 2) client.close(1000);
      else client.terminate();
      await closed(client);
    }
    await delay(50);
    expect(server.sockets.size).toBe(0);
    expect(live).toBe(0);
    for (const socket of seen) {
      expect(socket.state).toBe('closed');
      expect(['message', 'close', 'error', 'open', 'ping', 'pong'].map((e) => socket.ws.listenerCount(e))).toEqual([0, 0, 0, 0, 0, 0]);
    }
    expect(new Set(seen.map((s) => s.closeInfo?.code))).toEqual(new Set([1000, 1006]));
    await server.close();
  });
});

describe('review fixes', () => {
  it('refuses upgrade-time options with an adopted wss instead of ignoring them', () => {
    const wss = new WebSocketServer({ noServer: true });
    expect(() => serve({ wss, authenticate: () => false })).toThrow(/`authenticate` option\(s\) act on upgrades/);
    expect(() => serve({ wss, origin: 'any', maxPayload: 10 })).toThrow(/`origin`, `maxPayload`/);
    const server = serve({ wss });
    expect(server.address()).toBeNull(); // a noServer wss has no address, and asking does not throw
    return server.close();
  });

  it('validates close() arguments at the call, leaving the server untouched', async () => {
    const { server, url } = await listen();
    expect(() => server.close({ code: 999 })).toThrow(/Expected `code` to be a close code/);
    expect(() => server.close({ timeout: -1 })).toThrow(/Expected `timeout`/);
    const client = await open(url());
    expect(client.readyState).toBe(WebSocket.OPEN);
    await server.close();
  });

  it('keeps held sockets for the next subscriber when the first takes one and leaves', async () => {
    const { server, url } = await listen();
    await Promise.all([open(url()), open(url()), open(url())]);
    await delay(20);
    const first = await firstValueFrom(server.connections$);
    const rest: RxSocket[] = [];
    server.connections$.subscribe((s) => rest.push(s));
    expect(rest).toHaveLength(2);
    expect(rest).not.toContain(first);
  });

  it('forgets a held socket once it has closed', async () => {
    const { server, url } = await listen();
    const client = await open(url());
    await delay(20);
    client.close();
    await closed(client);
    await delay(20);
    const seen: RxSocket[] = [];
    server.connections$.subscribe((s) => seen.push(s));
    expect(seen).toEqual([]);
  });
});
