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
