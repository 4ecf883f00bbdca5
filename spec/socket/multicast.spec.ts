/**
 * Multicast stands in for rxjs's Subject and BehaviorSubject: each scenario
 * runs on both and must log the same.
 */
import { BehaviorSubject, Subject, take, type Observable, type Subscription } from 'rxjs';
import { Multicast } from '../../src/socket/multicast';

interface Source<T> {
  readonly stream: Observable<T>;
  next(value: T): void;
  error(error: unknown): void;
  complete(): void;
}

const subject = <T>(...first: [] | [T]): Source<T> => {
  const s = first.length > 0 ? new BehaviorSubject<T>(first[0] as T) : new Subject<T>();
  return { stream: s.asObservable(), next: (v) => s.next(v), error: (e) => s.error(e), complete: () => s.complete() };
};
const multicast = <T>(...first: [] | [T]): Source<T> => {
  const m = new Multicast<T>(...first);
  return { stream: m.stream, next: (v) => m.next(v), error: (e) => m.error(e), complete: () => m.complete() };
};

/** Runs `scenario` on a Subject (or BehaviorSubject, given a first value) and on a Multicast; returns both logs. */
function both(scenario: (source: Source<number>, log: string[]) => void, ...first: [] | [number]): [string[], string[]] {
  const run = (make: typeof subject): string[] => {
    const log: string[] = [];
    scenario(make<number>(...first), log);
    return log;
  };
  return [run(subject), run(multicast)];
}

const observer = (name: string, log: string[]) => ({
  next: (v: number) => log.push(`${name} ${v}`),
  error: (e: unknown) => log.push(`${name} error ${String(e)}`),
  complete: () => log.push(`${name} complete`),
});

describe('Multicast, as a Subject', () => {
  it('hands a value to those there when it is given, not to one that joins or leaves meanwhile', () => {
    const [expected, actual] = both((source, log) => {
      let b: Subscription | undefined;
      const a = source.stream.subscribe({
        next: (v) => {
          log.push(`a ${v}`);
          if (v === 1) b = source.stream.subscribe(observer('b', log));
          if (v === 2) c.unsubscribe();
          if (v === 3) source.next(4);
        },
      });
      const c = source.stream.subscribe(observer('c', log));
      for (const v of [1, 2, 3]) source.next(v);
      a.unsubscribe();
      b!.unsubscribe();
      source.next(5);
    });
    expect(actual).toEqual(expected);
  });

  it('ends each subscriber once, and a late one at once; nothing after the end', () => {
    for (const end of ['complete', 'error'] as const) {
      const [expected, actual] = both((source, log) => {
        source.stream.subscribe({
          ...observer('a', log),
          complete: () => {
            log.push('a complete');
            source.stream.subscribe(observer('inner', log));
          },
        });
        source.stream.pipe(take(1)).subscribe(observer('b', log));
        source.next(1);
        if (end === 'complete') source.complete();
        else source.error('boom');
        source.next(2);
        source.complete();
        source.stream.subscribe(observer('late', log));
      });
      expect(actual).toEqual(expected);
    }
  });
});

describe('Multicast with a first value, as a BehaviorSubject', () => {
  it('gives the latest value first, then each change; a subscriber that changes it from inside sees both in order', () => {
    const [expected, actual] = both((source, log) => {
      source.stream.subscribe(observer('a', log));
      source.next(1);
      source.stream.subscribe({
        next: (v) => {
          log.push(`b ${v}`);
          if (v === 1) source.next(2);
        },
      });
      source.stream.pipe(take(1)).subscribe(observer('c', log));
      source.complete();
      source.stream.subscribe(observer('late', log));
    }, 0);
    expect(actual).toEqual(expected);
  });

  it('keeps the value given after the end, as BehaviorSubject does', () => {
    const s = new BehaviorSubject(0);
    const m = new Multicast(0);
    for (const x of [s, m]) {
      x.complete();
      x.next(7);
    }
    expect(m.value).toBe(s.value);
    expect(m.ended).toBe(true);
  });
});
