import { map, toArray, firstValueFrom } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { createHub } from '../../src';
import { Outbox } from '../../src/hub/outbox';
import { fakeSocket } from '../support/fake';

describe('hub.metrics$()', () => {
  it('emits stats with the status on subscription and every interval, in virtual time', () => {
    const testScheduler = new TestScheduler((a, b) => expect(a).toEqual(b));
    testScheduler.run(({ expectObservable, cold }) => {
      const hub = createHub({ scheduler: testScheduler });
      const { socket } = fakeSocket();
      hub.join(socket, 'room');
      cold('500ms p').subscribe(() => hub.publish('room', 'hi'));
      const seen = hub.metrics$(400).pipe(map((m) => `${m.at}:${m.status}:${m.published}/${m.delivered}:${m.adapter.lag}`));
      expectObservable(seen, '^ 1000ms !').toBe('a 399ms b 399ms c', { a: '0:connected:0/0:0', b: '400:connected:0/0:0', c: '800:connected:1/1:0' });
    });
  });

  it('completes when the hub has closed, with a last snapshot', async () => {
    const hub = createHub();
    const all = firstValueFrom(hub.metrics$(60_000).pipe(toArray()));
    await hub.close();
    expect((await all).map((m) => m.status)).toEqual(['connected', 'disconnected']);
    expect((await firstValueFrom(hub.metrics$(10).pipe(toArray()))).length).toBe(1);
  });
});

describe('the Redis lag (Outbox.lag)', () => {
  it('is how long the oldest envelope not yet answered has waited, and 0 once the broker answered', () => {
    const testScheduler = new TestScheduler((a, b) => expect(a).toEqual(b));
    testScheduler.run(({ flush }) => {
      const acks: (() => void)[] = [];
      const outbox = new Outbox({
        limits: { maxMessages: 10, maxBytes: 1 << 20 },
        retries: 0,
        retryDelay: () => 10,
        transmit: (_channel, _data, reply) => acks.push(() => reply.ack()),
        scheduler: testScheduler,
      });
      outbox.online();
      expect(outbox.lag).toBe(0);
      outbox.push('a', Buffer.from('1'));
      testScheduler.schedule(() => outbox.push('a', Buffer.from('2')), 100);
      testScheduler.schedule(() => {
        expect(outbox.lag).toBe(250);
        acks[0]!();
        expect(outbox.lag).toBe(150); // the second waited since 100
        acks[1]!();
        expect(outbox.lag).toBe(0);
      }, 250);
      flush();
      expect(acks).toHaveLength(2);
    });
  });
});
