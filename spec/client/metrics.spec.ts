import { map } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { PageSocket, pageClient } from '../support/page';

describe('client.metrics$()', () => {
  beforeEach(() => (PageSocket.made = []));

  it('counts connections, reconnects and frames, every interval in virtual time, and completes with the client', () => {
    const testScheduler = new TestScheduler((a, b) => expect(a).toEqual(b));
    testScheduler.run(({ expectObservable, cold }) => {
      const { c, last } = pageClient(testScheduler, { heartbeat: false });
      c.messages$.subscribe();
      c.next('queued'); // before the open: in the offline queue
      cold('50ms o', { o: 0 }).subscribe(() => last().open()); // sends what was queued
      cold('150ms m', { m: 0 }).subscribe(() => last().message('in'));
      cold('250ms e', { e: 0 }).subscribe(() => last().end(1006));
      cold('450ms c', { c: 0 }).subscribe(() => (c.close(), last().end(1000)));
      const seen = c.metrics$(100).pipe(map((m) => `${m.at} ${m.state} ${m.connections}/${m.reconnects} in ${m.messages.received} out ${m.messages.sent} q ${m.queued}`));
      expectObservable(seen, '^ 600ms !').toBe('a 99ms b 99ms c 99ms d 99ms e 49ms (f|)', {
        a: '0 connecting 0/0 in 0 out 0 q 1',
        b: '100 open 1/0 in 0 out 1 q 0',
        c: '200 open 1/0 in 1 out 1 q 0',
        d: '300 reconnecting 1/1 in 1 out 1 q 0',
        e: '400 reconnecting 1/1 in 1 out 1 q 0',
        f: '450 closed 1/1 in 1 out 1 q 0',
      });
    });
  });
});
