import { firstValueFrom, filter, take, toArray } from 'rxjs';
import { connect, type RxSession } from '../../src';
import { listen } from '../support/net';
import { CuttingProxy } from '../support/proxy';
import '../support/cleanup';

describe('resume sanity', () => {
  it('echoes across cuts', async () => {
    const { server, port } = await listen({ path: '/ws', resume: { ttl: 5000 } });
    const sessions: RxSession[] = [];
    server.sessions$.subscribe((s) => {
      sessions.push(s);
      s.messages$.subscribe((m) => s.next(m));
    });
    const proxy = new CuttingProxy(port);
    const pport = await proxy.listen();
    const client = connect(`ws://127.0.0.1:${pport}/ws`, { resume: true, reconnect: { initialDelay: 5, maxDelay: 20 } });
    const statuses: unknown[] = [];
    client.status$.subscribe((s) => statuses.push(s));
    const N = 2000;
    const got = firstValueFrom(client.messages$.pipe(take(N), toArray()));
    await firstValueFrom(client.status$.pipe(filter((s) => s.state === 'open')));
    proxy.cutEvery(50, 150);
    for (let i = 0; i < N; i++) {
      client.next(String(i));
      if (i % 50 === 0) await new Promise((r) => setTimeout(r, 5));
    }
    const received = await got;
    proxy.stop();
    expect(received).toEqual(Array.from({ length: N }, (_, i) => String(i)));
    expect(sessions.length).toBe(1);
    console.log('cuts', proxy.cuts, 'connections', sessions[0]!.connections, statuses.filter((s: any) => s.session).map((s: any) => s.session.state).join(','));
    client.close();
    await firstValueFrom(client.close$);
    await proxy.close();
  }, 30000);
});
