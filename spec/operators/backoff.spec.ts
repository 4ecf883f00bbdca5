import { asyncScheduler, defer, Observable, throwError } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { InvalidArgumentError } from '../../src/errors';
import { backoffDelay, type BackoffConfig, resolveBackoff } from '../../src/operators/backoff';
import { retryWithBackoff, type RetryBackoffConfig } from '../../src/operators/retry';
import { mulberry32 } from '../support/random';

/** Returns the given numbers in turn, and fails the test if asked for more. */
function sequence(...values: number[]): () => number {
  let i = 0;
  return () => {
    const value = values[i++];
    if (value === undefined) throw new Error(`random() called more than ${values.length} times`);
    return value;
  };
}

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('Expected the call to throw');
}

type RetryInfo = Parameters<NonNullable<RetryBackoffConfig['onRetry']>>[0];

describe('backoff', () => {
  let testScheduler: TestScheduler;

  beforeEach(() => {
    testScheduler = new TestScheduler((actual, expected) => expect(actual).toEqual(expected));
  });

  describe('the schedule without jitter', () => {
    const config = { initialDelay: 10, factor: 2, maxDelay: 50, maxAttempts: 4, jitter: 'none' } as const;

    it('doubles the delay up to maxDelay', () => {
      const resolved = resolveBackoff(config, asyncScheduler);
      expect([1, 2, 3, 4, 5, 6].map((attempt) => backoffDelay(attempt, resolved))).toEqual([10, 20, 40, 50, 50, 50]);
    });

    it('resubscribes at 10, 30, 70 and 120, then rethrows the error that follows the 4th retry', () => {
      testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
        const source = cold('#');
        expectObservable(source.pipe(retryWithBackoff(config))).toBe('120ms #');
        expectSubscriptions(source.subscriptions).toBe(['(^!)', '10ms (^!)', '30ms (^!)', '70ms (^!)', '120ms (^!)']);
      });
    });

    it('waits on the scheduler it is given', () => {
      // Outside run mode asyncScheduler is real time, so only the given scheduler can make flush() retry.
      const scheduler = new TestScheduler(() => undefined);
      let subscriptions = 0;
      const errors: unknown[] = [];
      const source = defer(() => {
        subscriptions++;
        return throwError(() => 'down');
      });
      const subscription = source
        .pipe(retryWithBackoff({ ...config, maxAttempts: 2, scheduler }))
        .subscribe({ error: (error: unknown) => errors.push([scheduler.now(), error]) });
      expect(subscriptions).toBe(1);
      scheduler.flush();
      expect(subscriptions).toBe(3);
      expect(errors).toEqual([[30, 'down']]);
      subscription.unsubscribe();
    });

    it('does not retry at all with maxAttempts 0', () => {
      testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
        const source = cold('--#');
        expectObservable(source.pipe(retryWithBackoff({ ...config, maxAttempts: 0 }))).toBe('--#');
        expectSubscriptions(source.subscriptions).toBe('^-!');
      });
    });
  });

  describe('full jitter', () => {
    it('waits floor(random() * ceiling)', () => {
      const config = {
        initialDelay: 100,
        factor: 2,
        maxDelay: 1000,
        maxAttempts: 4,
        random: sequence(0.5, 0.25, 0.999, 0),
      };
      // Ceilings 100, 200, 400, 800 -> delays 50, 50, 399, 0.
      testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
        const source = cold('#');
        const infos: RetryInfo[] = [];
        const result = source.pipe(retryWithBackoff({ ...config, onRetry: (info) => infos.push(info) }));
        expectObservable(result).toBe('499ms #');
        expectSubscriptions(source.subscriptions).toBe(['(^!)', '50ms (^!)', '100ms (^!)', '499ms (^!)', '499ms (^!)']);
        testScheduler.flush();
        expect(infos.map((i) => i.delay)).toEqual([50, 50, 399, 0]);
      });
    });

    it.each([
      { seed: 1, initialDelay: 1, factor: 2, maxDelay: 30_000 },
      { seed: 2, initialDelay: 500, factor: 2, maxDelay: 30_000 },
      { seed: 3, initialDelay: 250, factor: 1.5, maxDelay: 10_000 },
      { seed: 4, initialDelay: 7, factor: 1, maxDelay: 7 },
      { seed: 5, initialDelay: 3, factor: 10, maxDelay: 2_147_483_647 },
    ])('keeps every delay in [0, ceiling) and every ceiling <= maxDelay (%o)', ({ seed, ...base }) => {
      const jittered = resolveBackoff({ ...base, random: mulberry32(seed) }, asyncScheduler);
      const capped = resolveBackoff({ ...base, jitter: 'none' }, asyncScheduler);
      const broken: string[] = [];
      let previous = 0;
      let lowest = 1;
      let highest = 0;
      // Up to attempt 1100 so that factor ** (attempt - 1) overflows to Infinity (2 ** 1024).
      for (let attempt = 1; attempt <= 1100; attempt++) {
        const ceiling = backoffDelay(attempt, capped);
        const delay = backoffDelay(attempt, jittered);
        if (!(ceiling >= Math.max(previous, base.initialDelay) && ceiling <= base.maxDelay)) {
          broken.push(`attempt ${attempt}: ceiling ${ceiling}`);
        }
        if (!(Number.isInteger(delay) && delay >= 0 && delay < ceiling)) {
          broken.push(`attempt ${attempt}: delay ${delay} for ceiling ${ceiling}`);
        }
        lowest = Math.min(lowest, delay / ceiling);
        highest = Math.max(highest, delay / ceiling);
        previous = ceiling;
      }
      expect(broken).toEqual([]);
      expect(previous).toBe(base.maxDelay);
      // The whole range is used, not a sliver of it.
      expect(lowest).toBeLessThan(0.05);
      expect(highest).toBeGreaterThan(0.8);
    });

    it('keeps a zero initialDelay at zero instead of NaN when factor ** n overflows', () => {
      const resolved = resolveBackoff({ initialDelay: 0, maxDelay: 0, jitter: 'none' }, asyncScheduler);
      expect(backoffDelay(1, resolved)).toBe(0);
      expect(backoffDelay(5000, resolved)).toBe(0);
    });
  });

  it('starts again from attempt 1 after the source emits', () => {
    testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const sources = [cold('#'), cold('#'), cold('-a#'), cold('#'), cold('#')];
      let i = 0;
      const infos: RetryInfo[] = [];
      const result = defer(() => sources[i++]!).pipe(
        retryWithBackoff({ initialDelay: 10, maxAttempts: 2, jitter: 'none', onRetry: (info) => infos.push(info) }),
      );
      // Without the reset, the error at 32 would be a 3rd failure and be rethrown.
      expectObservable(result).toBe('31ms a 30ms #');
      expectSubscriptions(sources[0]!.subscriptions).toBe('(^!)');
      expectSubscriptions(sources[1]!.subscriptions).toBe('10ms (^!)');
      expectSubscriptions(sources[2]!.subscriptions).toBe('30ms ^-!');
      expectSubscriptions(sources[3]!.subscriptions).toBe('42ms (^!)');
      expectSubscriptions(sources[4]!.subscriptions).toBe('62ms (^!)');
      testScheduler.flush();
      expect(infos.map(({ attempt, delay }) => [attempt, delay])).toEqual([
        [1, 10],
        [2, 20],
        [1, 10],
        [2, 20],
      ]);
    });
  });

  describe('shouldRetry', () => {
    const unauthorized = { status: 401 };
    const unavailable = { status: 503 };
    const notUnauthorized = (error: unknown) => (error as { status?: number }).status !== 401;

    it('stops at once with the original error when it returns false', () => {
      testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
        const source = cold('--#', undefined, unauthorized);
        const onRetry = jest.fn();
        expectObservable(source.pipe(retryWithBackoff({ shouldRetry: notUnauthorized, onRetry }))).toBe(
          '--#',
          undefined,
          unauthorized,
        );
        expectSubscriptions(source.subscriptions).toBe('^-!');
        testScheduler.flush();
        expect(onRetry).not.toHaveBeenCalled();
      });
    });

    it('receives each error with its attempt number', () => {
      testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
        const sources = [cold('#', undefined, unavailable), cold('#', undefined, unavailable), cold('#', undefined, unauthorized)];
        let i = 0;
        const shouldRetry = jest.fn(notUnauthorized);
        const result = defer(() => sources[i++]!).pipe(retryWithBackoff({ initialDelay: 10, jitter: 'none', shouldRetry }));
        expectObservable(result).toBe('30ms #', undefined, unauthorized);
        expectSubscriptions(sources[2]!.subscriptions).toBe('30ms (^!)');
        testScheduler.flush();
        expect(shouldRetry.mock.calls).toEqual([
          [unavailable, 1],
          [unavailable, 2],
          [unauthorized, 3],
        ]);
      });
    });

    it('is not asked once maxAttempts is spent', () => {
      testScheduler.run(({ cold, expectObservable }) => {
        const shouldRetry = jest.fn((_error: unknown, _attempt: number) => true);
        expectObservable(cold('#').pipe(retryWithBackoff({ initialDelay: 10, maxAttempts: 2, jitter: 'none', shouldRetry }))).toBe(
          '30ms #',
        );
        testScheduler.flush();
        expect(shouldRetry.mock.calls.map(([, attempt]) => attempt)).toEqual([1, 2]);
      });
    });
  });

  it('calls onRetry with attempt, delay and error just before each wait', () => {
    testScheduler.run(({ cold, expectObservable }) => {
      const error = new Error('connection refused');
      const calls: Array<RetryInfo & { at: number }> = [];
      const result = cold('#', undefined, error).pipe(
        retryWithBackoff({
          initialDelay: 100,
          maxAttempts: 3,
          random: sequence(0.5, 0.5, 0.5),
          onRetry: (info) => calls.push({ ...info, at: testScheduler.now() }),
        }),
      );
      expectObservable(result).toBe('350ms #', undefined, error);
      testScheduler.flush();
      expect(calls).toEqual([
        { attempt: 1, delay: 50, error, at: 0 },
        { attempt: 2, delay: 100, error, at: 50 },
        { attempt: 3, delay: 200, error, at: 150 },
      ]);
    });
  });

  it('cancels the pending wait when unsubscribed', () => {
    testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('--#');
      const onRetry = jest.fn();
      // Retries at 12 (after 10) and 34 (after 20); unsubscribing at 20 must prevent the second.
      expectObservable(source.pipe(retryWithBackoff({ initialDelay: 10, jitter: 'none', onRetry })), '20ms !').toBe('');
      expectSubscriptions(source.subscriptions).toBe(['^-!', '12ms ^-!']);
      testScheduler.flush();
      expect(onRetry).toHaveBeenCalledTimes(2);
    });
  });

  describe('configuration', () => {
    it('fills in the defaults and freezes the result', () => {
      const resolved = resolveBackoff(undefined, asyncScheduler);
      expect(resolved).toEqual({
        initialDelay: 500,
        maxDelay: 30_000,
        factor: 2,
        maxAttempts: Infinity,
        jitter: 'full',
        random: Math.random,
        scheduler: asyncScheduler,
      });
      expect(Object.isFrozen(resolved)).toBe(true);
      expect(resolveBackoff({ initialDelay: undefined, jitter: undefined }, asyncScheduler)).toEqual(resolved);
    });

    it('raises the default maxDelay to a larger initialDelay', () => {
      expect(resolveBackoff({ initialDelay: 60_000 }, asyncScheduler).maxDelay).toBe(60_000);
    });

    it.each<[string, unknown, string]>([
      ['config', null, 'Expected `config` to be an object, got `null` (null)'],
      ['initialDelay', { initialDelay: -1 }, 'Expected `initialDelay` to be an integer in [0, 2147483647], got `-1` (number)'],
      ['initialDelay', { initialDelay: 1.5 }, 'Expected `initialDelay` to be an integer in [0, 2147483647], got `1.5` (number)'],
      ['initialDelay', { initialDelay: '500' }, 'Expected `initialDelay` to be an integer in [0, 2147483647], got `"500"` (string)'],
      ['maxDelay', { initialDelay: 500, maxDelay: 100 }, 'Expected `maxDelay` to be an integer in [500, 2147483647], got `100` (number)'],
      ['maxDelay', { maxDelay: Infinity }, 'Expected `maxDelay` to be an integer in [500, 2147483647], got `Infinity` (number)'],
      ['factor', { factor: 0.5 }, 'Expected `factor` to be a finite number >= 1, got `0.5` (number)'],
      ['factor', { factor: NaN }, 'Expected `factor` to be a finite number >= 1, got `NaN` (number)'],
      ['maxAttempts', { maxAttempts: -1 }, 'Expected `maxAttempts` to be an integer >= 0 or Infinity, got `-1` (number)'],
      ['maxAttempts', { maxAttempts: 2.5 }, 'Expected `maxAttempts` to be an integer >= 0 or Infinity, got `2.5` (number)'],
      ['jitter', { jitter: 'equal' }, 'Expected `jitter` to be one of "full", "none", got `"equal"` (string)'],
      ['random', { random: 0.5 }, 'Expected `random` to be a function, got `0.5` (number)'],
      [
        'scheduler',
        { scheduler: {} },
        'Expected `scheduler` to be a SchedulerLike with now() and schedule(), got `{}` (object)',
      ],
      ['shouldRetry', { shouldRetry: true }, 'Expected `shouldRetry` to be a function, got `true` (boolean)'],
      ['onRetry', { onRetry: 'log' }, 'Expected `onRetry` to be a function, got `"log"` (string)'],
    ])('rejects a bad `%s` when the operator is created: %p', (_name, config, message) => {
      const subscribe = jest.fn();
      const source = new Observable(subscribe);
      const error = thrown(() => source.pipe(retryWithBackoff(config as RetryBackoffConfig)));
      expect(error).toBeInstanceOf(InvalidArgumentError);
      expect(error).toMatchObject({ code: 'RXJS_WS_INVALID_ARGUMENT', message });
      expect(subscribe).not.toHaveBeenCalled();
    });

    it('resolveBackoff validates the same way', () => {
      expect(() => resolveBackoff({ factor: 0 } as BackoffConfig, asyncScheduler)).toThrow(
        'Expected `factor` to be a finite number >= 1, got `0` (number)',
      );
    });

    it('backoffDelay counts attempts from 1', () => {
      expect(() => backoffDelay(0, resolveBackoff(undefined, asyncScheduler))).toThrow('Expected `attempt` to be an integer >= 1, got `0` (number)');
    });
  });
});
