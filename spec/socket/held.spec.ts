import { Subscriber, Subscription, config, map, take } from 'rxjs';
import { setFlagsFromString } from 'v8';
import { runInNewContext } from 'vm';
import { Held } from '../../src/socket/held';

describe('Held: a hot stream that holds values until someone subscribes', () => {
  it('hands held values to the first subscriber in order, once, then goes live', () => {
    const held = new Held<number>();
    held.push(1);
    held.push(2);
    const a: number[] = [];
    const b: number[] = [];
    held.stream.subscribe((v) => a.push(v));
    held.stream.subscribe((v) => b.push(v));
    held.push(3);
    expect(a).toEqual([1, 2, 3]);
    expect(b).toEqual([3]);
    expect(held.length).toBe(0);
  });

  it('does not give the value being handed out to a subscriber that joins during it', () => {
    const held = new Held<number>();
    const late: number[] = [];
    const early: number[] = [];
    held.stream.subscribe((v) => {
      early.push(v);
      if (v === 1) held.stream.subscribe((w) => late.push(w));
    });
    held.push(1);
    held.push(2);
    expect(early).toEqual([1, 2]);
    expect(late).toEqual([2]);
  });

  it('does not give the value being handed out to a subscriber that another one removed during it', () => {
    const held = new Held<number>();
    const second: number[] = [];
    let other = new Subscription();
    held.stream.subscribe(() => other.unsubscribe());
    other = held.stream.subscribe((v) => second.push(v));
    held.push(1);
    expect(second).toEqual([]);
    // The stream goes on with the first alone, and with a new second one.
    const third: number[] = [];
    held.stream.subscribe((v) => third.push(v));
    held.push(2);
    expect(third).toEqual([2]);
  });

  it('holds again once the last subscriber leaves half-way, for the next one', () => {
    const held = new Held<number>();
    held.push(1);
    held.push(2);
    held.push(3);
    const first: number[] = [];
    held.stream.pipe(take(1)).subscribe((v) => first.push(v));
    expect(first).toEqual([1]);
    expect(held.length).toBe(2);
    held.push(4);
    const next: number[] = [];
    held.stream.subscribe((v) => next.push(v));
    expect(next).toEqual([2, 3, 4]);
  });

  it('goes from several subscribers back to one and to none', () => {
    const held = new Held<number>();
    const seen: string[] = [];
    const a = held.stream.subscribe((v) => seen.push(`a${v}`));
    const b = held.stream.subscribe((v) => seen.push(`b${v}`));
    held.push(1);
    a.unsubscribe();
    held.push(2);
    b.unsubscribe();
    held.push(3);
    expect(seen).toEqual(['a1', 'b1', 'b2']);
    expect(held.length).toBe(1);
    held.stream.subscribe((v) => seen.push(`c${v}`));
    expect(seen).toEqual(['a1', 'b1', 'b2', 'c3']);
  });

  it('completes every subscriber after what is held, and later subscribers at once', () => {
    const held = new Held<number>();
    held.push(1);
    held.end();
    held.push(2); // ignored after end()
    const events: string[] = [];
    held.stream.subscribe({ next: (v) => events.push(`a${v}`), complete: () => events.push('a done') });
    held.stream.subscribe({ next: (v) => events.push(`b${v}`), complete: () => events.push('b done') });
    expect(events).toEqual(['a1', 'a done', 'b done']);
  });

  describe('tells nothing to a subscriber that left (rxjs reports a notification to a stopped subscriber)', () => {
    let stopped: string[];
    beforeEach(() => {
      stopped = [];
      config.onStoppedNotification = (notification) => stopped.push(notification.kind);
    });
    afterEach(() => (config.onStoppedNotification = null));
    // rxjs reports them on a later turn.
    const reported = async (): Promise<string[]> => {
      await new Promise((resolve) => setTimeout(resolve, 0));
      return stopped;
    };

    it('not the end, to one that unsubscribed before it', async () => {
      const held = new Held<number>();
      held.stream.subscribe().unsubscribe();
      const other = new Held<number>();
      other.stream.subscribe().unsubscribe();
      other.stream.subscribe().unsubscribe();
      held.end();
      other.end(new Error('gone'));
      expect(await reported()).toEqual([]);
    });

    it('not the end, to one that an error of its own ended (a throwing map)', async () => {
      const held = new Held<number>();
      held.push(1);
      held.end();
      const errors: unknown[] = [];
      held.stream
        .pipe(
          map(() => {
            throw new Error('bad value');
          }),
        )
        .subscribe({ error: (e: unknown) => errors.push(e) });
      expect(errors).toEqual([new Error('bad value')]);
      expect(await reported()).toEqual([]);
    });

    it('not the end, to one that another one removed while the end was told', async () => {
      const held = new Held<number>();
      let second = new Subscription();
      const told: string[] = [];
      held.stream.subscribe({ complete: () => (told.push('first'), second.unsubscribe()) });
      second = held.stream.subscribe({ complete: () => told.push('second') });
      held.end();
      expect(told).toEqual(['first']);
      expect(await reported()).toEqual([]);
    });

    it('not a value, to one that left while the value was taken out of the hold', async () => {
      let leave = new Subscription();
      const seen: number[] = [];
      const held = new (class extends Held<number> {
        protected override released(): void {
          leave.unsubscribe();
        }
      })();
      held.stream.subscribe((v) => {
        seen.push(v);
        if (v === 1) held.push(2); // held, and taken out once 1 was told
      });
      leave = held.stream.subscribe((v) => seen.push(v * 10));
      held.push(1);
      expect(seen).toEqual([1, 10, 2]);
      expect(await reported()).toEqual([]);
    });
  });

  it('errors every subscriber present, and later ones at once, with the failure', () => {
    const held = new Held<number>();
    const errors: unknown[] = [];
    held.stream.subscribe({ error: (e: unknown) => errors.push(e) });
    held.stream.subscribe({ error: (e: unknown) => errors.push(e) });
    const failure = new Error('gone');
    held.end(failure);
    held.stream.subscribe({ error: (e: unknown) => errors.push(e) });
    expect(errors).toEqual([failure, failure, failure]);
  });
});

describe('Held with many subscribers', () => {
  /** Subscribers that count how often anyone asks whether they are closed: the work Held does to look at them. */
  let looks = 0;
  class Counted extends Subscriber<number> {}
  const closed = new WeakMap<object, boolean>();
  Object.defineProperty(Counted.prototype, 'closed', {
    get(this: object) {
      looks++;
      return closed.get(this) ?? false;
    },
    set(this: object, value: boolean) {
      closed.set(this, value);
    },
  });
  const join = (held: Held<number>): Subscription => held.stream.subscribe(new Counted({ next: () => undefined, error: () => undefined, complete: () => undefined }));
  const N = 3000;

  beforeEach(() => (looks = 0));

  // A Subject took a subscriber in O(1); Held must not look at every other subscriber each time.
  it('takes subscribers one after another without looking at each earlier one every time', () => {
    const held = new Held<number>();
    for (let i = 0; i < N; i++) join(held);
    expect(looks).toBeLessThan(8 * N);
  });

  it('takes and lets go of a short-lived subscriber among many that stay, at a cost that does not grow with them', () => {
    const held = new Held<number>();
    for (let i = 0; i < N; i++) join(held);
    looks = 0;
    for (let i = 0; i < N; i++) join(held).unsubscribe();
    expect(looks).toBeLessThan(8 * N);
  });

  it('lets go of those that left a long list, with no value to look at it (each joins before the one before leaves)', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const held = new Held<number>();
    const first = join(held); // these stay: a long list
    for (let i = 0; i < 15; i++) join(held);
    let ref: WeakRef<object> | null = null;
    let previous: Subscription | null = null;
    for (let i = 0; i < N; i++) {
      const next = join(held);
      previous?.unsubscribe(); // never the list's last when it leaves
      previous = next;
      ref ??= new WeakRef(next);
    }
    expect(looks).toBeLessThan(8 * N);
    await new Promise((resolve) => setImmediate(resolve));
    gc();
    expect(ref!.deref()).toBeUndefined();
    // Values reach just the subscribers there.
    const seen: string[] = [];
    held.stream.subscribe((v) => seen.push(`x${v}`));
    held.push(1);
    expect(seen).toEqual(['x1']);
    expect(first.closed).toBe(false);
  });
});
