import { TestScheduler } from 'rxjs/testing';
import { type RxjsWsError, type RxSession, type CloseInfo } from '../../src';
import { bench } from '../support/resume';

function newScheduler(): TestScheduler {
  return new TestScheduler((actual, expected) => expect(actual).toEqual(expected));
}

describe('closing a session', () => {
  it.each(['client', 'server'] as const)('the %s closes: the other side confirms what it took, no frame is reported unconfirmed', (closer) => {
    const scheduler = newScheduler();
    scheduler.run(() => {
      const b = bench(scheduler);
      const client = b.client({ resume: true });
      const got: string[] = [];
      const clientErrors: RxjsWsError[] = [];
      const serverErrors: RxjsWsError[] = [];
      const closes: CloseInfo[] = [];
      let session: RxSession | undefined;
      client.messages$.subscribe((m) => got.push(String(m)));
      client.errors$.subscribe((e) => clientErrors.push(e));
      client.close$.subscribe((c) => closes.push(c));
      const taken: string[] = [];
      b.registry.sessions$.subscribe((s) => {
        session = s;
        s.messages$.subscribe((m) => taken.push(String(m)));
        s.errors$.subscribe((e) => serverErrors.push(e));
        s.close$.subscribe((c) => closes.push(c));
      });
      scheduler.schedule(() => {
        for (let i = 1; i <= 5; i++) (closer === 'client' ? client : session!).next(`m${i}`);
      }, 10);
      // The peer has every frame (1 ms later) but has not acknowledged them yet (ACK_DELAY is 20 ms).
      scheduler.schedule(() => (closer === 'client' ? client.close() : session!.close()), 12);
      scheduler.flush();
      expect(closer === 'client' ? taken : got).toEqual(['m1', 'm2', 'm3', 'm4', 'm5']);
      expect(closes.map((c) => c.code)).toEqual([1000, 1000]);
      expect(clientErrors).toEqual([]);
      expect(serverErrors).toEqual([]);
    });
  });
});
