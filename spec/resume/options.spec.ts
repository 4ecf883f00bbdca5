import { filter, firstValueFrom } from 'rxjs';
import { connect, InvalidArgumentError, serve, type RxClient, type RxSession } from '../../src';
import { listen } from '../support/net';
import '../support/cleanup';

const clients = new Set<RxClient>();
afterEach(() => {
  for (const client of clients) client.terminate();
  clients.clear();
});

describe('resume options', () => {
  it.each([
    [{ ttl: 0 }, 'resume.ttl'],
    [{ maxBytes: -1 }, 'resume.maxBytes'],
    [{ maxSessions: 1.5 }, 'resume.maxSessions'],
    ['yes', 'resume'],
  ])('serve() refuses resume %p, naming %s', (resume, name) => {
    expect(() => serve({ port: 0, resume: resume as never })).toThrow(InvalidArgumentError);
    expect(() => serve({ port: 0, resume: resume as never })).toThrow(name);
  });

  it.each([
    [{ maxBytes: 0 }, 'resume.maxBytes'],
    [{ timeout: 'soon' }, 'resume.timeout'],
    [42, 'resume'],
  ])('connect() refuses resume %p, naming %s', (resume, name) => {
    expect(() => connect('ws://127.0.0.1:1/', { resume: resume as never })).toThrow(InvalidArgumentError);
    expect(() => connect('ws://127.0.0.1:1/', { resume: resume as never })).toThrow(name);
  });
});

describe('server.metrics() of sessions', () => {
  it('is null without resume, and counts open, away and resumed sessions with it', async () => {
    const plain = await listen({});
    expect(plain.server.metrics().sessions).toBeNull();

    const { server, url } = await listen({ resume: { ttl: 60_000 } });
    const sessions: RxSession[] = [];
    server.sessions$.subscribe((session) => {
      sessions.push(session);
      session.messages$.subscribe(session);
    });
    const client = connect(url(), { resume: true, reconnect: { initialDelay: 1, maxDelay: 5 } });
    clients.add(client);
    client.messages$.subscribe();
    await firstValueFrom(client.status$.pipe(filter((s) => s.state === 'open')));
    expect(server.metrics().sessions).toEqual({ open: 1, away: 0, resumed: 0, expired: 0, evicted: 0 });

    sessions[0]!.socket!.terminate(); // the connection drops; the session waits
    const resumed = await firstValueFrom(client.status$.pipe(filter((s) => s.state === 'open' && s.session?.state !== 'new')));
    expect(resumed.session).toEqual({ state: 'resumed' });
    expect(server.metrics().sessions).toEqual({ open: 1, away: 0, resumed: 1, expired: 0, evicted: 0 });
    expect(sessions).toHaveLength(1);
    expect(sessions[0]!.connections).toBe(2);

    client.close();
    await firstValueFrom(sessions[0]!.close$);
    expect(server.metrics().sessions).toEqual({ open: 0, away: 0, resumed: 1, expired: 0, evicted: 0 });
  });
});

describe('a resume client and a server that selects no subprotocol', () => {
  it('connects at once without offering resume, as a plain connection, and offers it again on the next connection', async () => {
    const { WebSocketServer } = await import('ws');
    const offered: string[] = [];
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', handleProtocols: () => false });
    wss.on('connection', (ws, request) => {
      offered.push(request.headers['sec-websocket-protocol'] ?? '');
      ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    });
    await new Promise((resolve) => wss.once('listening', resolve));
    const port = (wss.address() as { port: number }).port;
    try {
      const client = connect(`ws://127.0.0.1:${port}/`, { resume: true, reconnect: { initialDelay: 1, maxDelay: 5 } });
      clients.add(client);
      const open = await firstValueFrom(client.status$.pipe(filter((s) => s.state === 'open')));
      expect(open).toEqual({ state: 'open', attempt: 0, session: { state: 'unsupported' } });
      client.messages$.subscribe(); // keeps the client open past the firstValueFrom below
      const echo = firstValueFrom(client.messages$);
      client.next('\u0000plain');
      expect(await echo).toBe('\u0000plain'); // a plain connection: no escaping
      for (const ws of wss.clients) ws.terminate();
      await firstValueFrom(client.status$.pipe(filter((s) => s.state === 'reconnecting')));
      await firstValueFrom(client.status$.pipe(filter((s) => s.state === 'open')));
      // Each connection first offered resume (the client failed that handshake: no subprotocol selected), then nothing.
      const resume = 'rxjs-ws.plain,rxjs-ws.resume.1';
      expect(offered).toEqual([resume, '', resume, '']);
      client.close();
      await firstValueFrom(client.close$);
    } finally {
      for (const ws of wss.clients) ws.terminate();
      await new Promise((resolve) => wss.close(resolve));
    }
  });
});
