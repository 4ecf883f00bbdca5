import { TestScheduler } from 'rxjs/testing';
import { InvalidArgumentError } from '../../src';
import { coalesce } from '../../src/operators/coalesce';

const run = (body: Parameters<TestScheduler['run']>[0]) => new TestScheduler((a, b) => expect(a).toEqual(b)).run(body);

describe('coalesce', () => {
  it('emits a burst maxDelay after its first value', () => {
    run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('a-b------c-d----|');
      expectObservable(source.pipe(coalesce({ maxDelay: 3 }))).toBe('---x--------y---|', { x: ['a', 'b'], y: ['c', 'd'] });
      expectSubscriptions(source.subscriptions).toBe('^---------------!');
    });
  });

  it('emits at once when maxCount values are waiting', () => {
    run(({ cold, expectObservable }) => {
      expectObservable(cold('abc-d|').pipe(coalesce({ maxCount: 2, maxDelay: 10 }))).toBe('-x--y|', { x: ['a', 'b'], y: ['c', 'd'] });
    });
  });

  it('emits what waits before completing, and never emits an empty array', () => {
    run(({ cold, expectObservable }) => {
      expectObservable(cold('a|').pipe(coalesce({ maxDelay: 5 }))).toBe('-(x|)', { x: ['a'] });
      expectObservable(cold('-----|').pipe(coalesce({ maxDelay: 1 }))).toBe('-----|');
    });
  });

  it('stops its timer on unsubscribe and forwards errors', () => {
    run(({ cold, expectObservable }) => {
      expectObservable(cold('a-----b').pipe(coalesce({ maxDelay: 4 })), '^-!').toBe('---');
      expectObservable(cold('a-#').pipe(coalesce({ maxDelay: 4 }))).toBe('--#');
    });
  });

  it('with maxDelay 0 gathers a synchronous burst into one array (end of tick)', async () => {
    const out: string[][] = [];
    const { Subject } = await import('rxjs');
    const s = new Subject<string>();
    s.pipe(coalesce()).subscribe((b) => out.push(b));
    s.next('a');
    s.next('b');
    s.next('c');
    expect(out).toEqual([]);
    await Promise.resolve();
    expect(out).toEqual([['a', 'b', 'c']]);
  });

  it('validates its config when created', () => {
    expect(() => coalesce({ maxCount: 0 })).toThrow(InvalidArgumentError);
    expect(() => coalesce({ maxDelay: -1 })).toThrow('Expected `maxDelay` to be an integer in [0, 2147483647], got `-1` (number)');
    expect(() => coalesce({ scheduler: {} as never })).toThrow(/Expected `scheduler` to be a SchedulerLike/);
  });
});
