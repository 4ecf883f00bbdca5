/** The examples the README shows, run as they are written there. */
import { TestScheduler } from 'rxjs/testing';
import { heartbeat, HeartbeatTimeoutError } from 'rxjs-ws';

describe('README: marble-test your heartbeat logic', () => {
  it('pings after 10 ms of quiet and gives up 5 ms after an unanswered ping', () => {
    new TestScheduler((a, b) => expect(a).toEqual(b)).run(({ cold, expectObservable, expectSubscriptions }) => {
      const pongs = cold('-----p'); // a sign of life at 5 ms...
      expectObservable(pongs.pipe(heartbeat({ interval: 10, timeout: 5 }))).toBe(
        '15ms a 4ms #', // ...so the ping is due at 15 and the peer is given up at 20
        { a: 1 },
        new HeartbeatTimeoutError({ lastPongAt: 5, missed: 1, timeout: 5 }),
      );
      expectSubscriptions(pongs.subscriptions).toBe('^ 19ms !'); // and the pongs are released
    });
  });
});
