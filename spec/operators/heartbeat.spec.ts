import { asyncScheduler, NEVER, Subject, VirtualTimeScheduler } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { HeartbeatTimeoutError, InvalidArgumentError, RxjsWsError } from '../../src/errors';
import { heartbeat, type HeartbeatConfig } from '../../src/operators/heartbeat';

/**
 * jest's `toEqual` compares errors by message only, and the message leaves out
 * `lastPongAt`: compare an RxjsWsError by class, code and info as well.
 */
function comparable(value: unknown): unknown {
  if (!Array.isArray(value)) return value;
  return value.map((m: { notification?: { kind: string; error?: unknown } }) => {
    const error = m.notification?.kind === 'E' ? m.notification.error : undefined;
    if (!(error instanceof RxjsWsError)) return m;
    const { name, code, message } = error;
    return { ...m, notification: { ...m.notification, error: { name, code, message, info: (error as HeartbeatTimeoutError).info } } };
  });
}

const timedOut = (lastPongAt: number, missed: number, timeout: number) =>
  new HeartbeatTimeoutError({ lastPongAt, missed, timeout });

const pings = { a: 1, b: 2, c: 3, d: 4, e: 5, f: 6, g: 7, h: 8, i: 9, j: 10 };

describe('heartbeat', () => {
  let testScheduler: TestScheduler;

  beforeEach(() => {
    testScheduler = new TestScheduler((actual, expected) => expect(comparable(actual)).toEqual(comparable(expected)));
  });

  // Inside `run`, asyncScheduler runs in virtual time: these tests also prove it is the default.
  describe('on a quiet line', () => {
    it('pings every interval, then errors timeout after the first ping, counting every ping sent', () => {
      testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
        const pongs = cold('-');
        const expected = '10ms a 9ms b 9ms c 9ms d 9ms e 9ms f 9ms g 9ms h 9ms i 9ms j 9ms #';
        expectObservable(pongs.pipe(heartbeat({ interval: 10, timeout: 100 }))).toBe(expected, pings, timedOut(0, 10, 100));
        expectSubscriptions(pongs.subscriptions).toBe('^ 109ms !');
      });
    });

    it('keeps exactly one ping outstanding when timeout < interval', () => {
      testScheduler.run(({ cold, expectObservable }) => {
        expectObservable(cold('-').pipe(heartbeat({ interval: 10, timeout: 5 }))).toBe('10ms a 4ms #', pings, timedOut(0, 1, 5));
      });
    });

    it('does not send a ping that falls due at the deadline (timeout === interval)', () => {
      testScheduler.run(({ cold, expectObservable }) => {
        expectObservable(cold('-').pipe(heartbeat({ interval: 10, timeout: 10 }))).toBe('10ms a 9ms #', pings, timedOut(0, 1, 10));
      });
    });
  });

  describe('signs of life', () => {
    it('reset the deadline and the ping schedule', () => {
      testScheduler.run(({ cold, expectObservable }) => {
        // Ping at 10, pong at 15: pings resume 10 after the pong (25, 35, 45), deadline 25 + 25.
        const pongs = cold('15ms p');
        const expected = '10ms a 14ms b 9ms c 9ms d 4ms #';
        expectObservable(pongs.pipe(heartbeat({ interval: 10, timeout: 25 }))).toBe(expected, pings, timedOut(15, 3, 25));
      });
    });

    it('error exactly interval + timeout after the last one, with code and info', () => {
      let error: unknown;
      testScheduler.run(({ cold, expectObservable }) => {
        // Pong at 12: ping at 22, error at 12 + 10 + 5 = 27.
        const pongs = cold('12ms p');
        expectObservable(pongs.pipe(heartbeat({ interval: 10, timeout: 5 }))).toBe('10ms a 11ms b 4ms #', pings, timedOut(12, 1, 5));
        pongs.pipe(heartbeat({ interval: 10, timeout: 5 })).subscribe({ error: (e: unknown) => (error = e) });
      });
      expect(error).toBeInstanceOf(HeartbeatTimeoutError);
      expect(error).toBeInstanceOf(RxjsWsError);
      expect(error).toBeInstanceOf(Error);
      const e = error as HeartbeatTimeoutError;
      expect(e.code).toBe('RXJS_WS_HEARTBEAT_TIMEOUT');
      expect(e.name).toBe('HeartbeatTimeoutError');
      expect(e.info).toEqual({ lastPongAt: 12, missed: 1, timeout: 5 });
    });

    it('count at the frame a ping or the deadline falls due', () => {
      testScheduler.run(({ cold, expectObservable }) => {
        // A pong at 10 replaces the ping due at 10; one at 25 beats the deadline of the ping at 20.
        const pongs = cold('10ms p 14ms p');
        expectObservable(pongs.pipe(heartbeat({ interval: 10, timeout: 5 }))).toBe('20ms a 14ms b 4ms #', pings, timedOut(25, 1, 5));
      });
    });

    it('keep a busy line from being pinged at all', () => {
      testScheduler.run(({ cold, expectObservable }) => {
        const frames = cold('----f----f----f----f----f----f----f----f----f----f|');
        expectObservable(frames.pipe(heartbeat({ interval: 10, timeout: 5 }))).toBe('50ms |');
      });
    });

    it('ping once a busy line goes quiet', () => {
      testScheduler.run(({ cold, expectObservable }) => {
        // Last frame at 24: pings at 34 and 44, deadline 34 + 15.
        const frames = cold('----f----f----f----f----f');
        expectObservable(frames.pipe(heartbeat({ interval: 10, timeout: 15 }))).toBe('34ms a 9ms b 4ms #', pings, timedOut(24, 2, 15));
      });
    });

    it('count when they arrive synchronously while the ping is sent', () => {
      const seen: Array<[number, unknown]> = [];
      testScheduler.run(() => {
        const pongs = new Subject<void>();
        pongs.pipe(heartbeat({ interval: 10, timeout: 5 })).subscribe({
          next: (n) => {
            seen.push([testScheduler.now(), n]);
            if (n < 3) pongs.next(); // a loopback peer that answers the first two pings at once
          },
          error: (e: HeartbeatTimeoutError) => seen.push([testScheduler.now(), e.info]),
        });
      });
      expect(seen).toEqual([
        [10, 1],
        [20, 2],
        [30, 3],
        [35, { lastPongAt: 20, missed: 1, timeout: 5 }],
      ]);
    });
  });

  describe('lifetime', () => {
    it('stops its timers and unsubscribes the source when unsubscribed', () => {
      const seen: Array<[number, unknown]> = [];
      testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
        const pongs = cold('-');
        expectObservable(pongs.pipe(heartbeat({ interval: 3, timeout: 100 })), '^---!').toBe('3ms a', pings);
        expectSubscriptions(pongs.subscriptions).toBe('^---!');

        const subscription = cold('-')
          .pipe(heartbeat({ interval: 3, timeout: 100 }))
          .subscribe({ next: (n) => seen.push([testScheduler.now(), n]), error: (e) => seen.push([testScheduler.now(), e]) });
        testScheduler.schedule(() => {
          subscription.unsubscribe();
          expect(testScheduler.actions).toEqual([]); // no timer left behind
        }, 4);
      });
      expect(seen).toEqual([[3, 1]]);
    });

    it('completes when the source completes', () => {
      testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
        const pongs = cold('-------|');
        expectObservable(pongs.pipe(heartbeat({ interval: 3, timeout: 100 }))).toBe('3ms a 2ms b|', pings);
        expectSubscriptions(pongs.subscriptions).toBe('^------!');
      });
    });

    it('errors with the source error', () => {
      testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
        const closed = new Error('socket closed');
        const pongs = cold('----#', undefined, closed);
        expectObservable(pongs.pipe(heartbeat({ interval: 3, timeout: 100 }))).toBe('3ms a#', pings, closed);
        expectSubscriptions(pongs.subscriptions).toBe('^---!');
      });
    });

    it('starts nothing until subscribed, and numbers pings per subscription', () => {
      testScheduler.run(({ cold, expectObservable }) => {
        const pongs = cold('-');
        const pinged = pongs.pipe(heartbeat({ interval: 3, timeout: 100 }));
        expect(pongs.subscriptions).toEqual([]);
        expect(testScheduler.actions).toEqual([]);
        expectObservable(pinged, '^---!').toBe('3ms a', pings);
        expectObservable(pinged, '--^---!').toBe('5ms a', pings);
      });
    });
  });

  describe('config', () => {
    const valid: HeartbeatConfig = { interval: 10, timeout: 5 };

    it.each([
      ['interval', { interval: 0, timeout: 5 }, 'Expected `interval` to be an integer in [1, 2147483647], got `0` (number)'],
      ['interval', { interval: 1.5, timeout: 5 }, 'Expected `interval` to be an integer'],
      ['interval', { interval: '10', timeout: 5 }, 'Expected `interval` to be an integer'],
      ['interval', { interval: NaN, timeout: 5 }, 'Expected `interval` to be an integer'],
      ['interval', { interval: 2 ** 31, timeout: 5 }, 'Expected `interval` to be an integer in [1, 2147483647]'],
      ['interval', { timeout: 5 }, 'Expected `interval` to be an integer'],
      ['timeout', { interval: 10, timeout: -1 }, 'Expected `timeout` to be an integer in [1, 2147483647], got `-1` (number)'],
      ['timeout', { interval: 10 }, 'Expected `timeout` to be an integer'],
      ['scheduler', { ...valid, scheduler: {} }, 'Expected `scheduler` to be a SchedulerLike'],
      ['scheduler', { ...valid, scheduler: { now: () => 0 } }, 'Expected `scheduler` to be a SchedulerLike'],
      ['scheduler', { ...valid, scheduler: null }, 'Expected `scheduler` to be a SchedulerLike'],
      ['config', null, 'Expected `config` to be an object, got `null` (null)'],
      ['config', 10, 'Expected `config` to be an object'],
      ['config', [10, 5], 'Expected `config` to be an object'],
      ['config', undefined, 'Expected `interval` to be an integer'],
    ])('rejects a bad %s (%j) when the operator is created', (_name, config, message) => {
      // Throwing here, not at subscribe, is the point: `heartbeat(config)` is never piped or subscribed.
      expect(() => heartbeat(config as HeartbeatConfig)).toThrow(InvalidArgumentError);
      expect(() => heartbeat(config as HeartbeatConfig)).toThrow(message);
    });

    it('accepts a SchedulerLike and takes time only from it', () => {
      const scheduler = new VirtualTimeScheduler();
      const seen: Array<[number, unknown]> = [];
      NEVER.pipe(heartbeat({ interval: 10, timeout: 5, scheduler })).subscribe({
        next: (n) => seen.push([scheduler.now(), n]),
        error: (e) => seen.push([scheduler.now(), e]),
      });
      expect(seen).toEqual([]);
      scheduler.flush();
      expect(seen).toEqual([
        [10, 1],
        [15, timedOut(0, 1, 5)],
      ]);
      expect((seen[1]?.[1] as HeartbeatTimeoutError).info).toEqual({ lastPongAt: 0, missed: 1, timeout: 5 });
    });

    // Virtual time reschedules with new actions; asyncScheduler reuses one timer. Exercise that path too (~20 ms).
    it('runs on the real asyncScheduler by default', async () => {
      const started = asyncScheduler.now();
      const seen = await new Promise<unknown[]>((resolve) => {
        const events: unknown[] = [];
        NEVER.pipe(heartbeat({ interval: 5, timeout: 13 })).subscribe({
          next: (n) => events.push(n),
          error: (e) => resolve([...events, e]),
        });
      });
      const elapsed = asyncScheduler.now() - started;
      const error = seen.pop() as HeartbeatTimeoutError;
      // Timer jitter may cost a ping: assert the shape, not the count.
      expect(error).toBeInstanceOf(HeartbeatTimeoutError);
      expect(seen.length).toBeGreaterThanOrEqual(1);
      expect(seen).toEqual(seen.map((_, i) => i + 1));
      expect(error.info.missed).toBe(seen.length);
      expect(error.info.timeout).toBe(13);
      expect(error.info.lastPongAt - started).toBeLessThanOrEqual(1);
      expect(elapsed).toBeGreaterThanOrEqual(5 + 13 - 1);
      expect(elapsed).toBeLessThan(1_000);
    });
  });
});
