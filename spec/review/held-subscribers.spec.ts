/**
 * Held keeps its subscribers itself; it must tell them exactly what a
 * `Subject` would have. `SubjectHeld` below is the same hold built on a
 * `Subject`: random programs (subscribers through operators, re-entrant
 * pushes, subscriptions, unsubscriptions and ends from inside handlers,
 * throwing handlers) run against both and must leave the same trace,
 * including what rxjs reports asynchronously (stopped notifications,
 * unhandled errors).
 */
import { Observable, Subject, Subscriber, Subscription, config, map, share, take, takeUntil } from 'rxjs';
import { timeoutProvider } from 'rxjs/internal/scheduler/timeoutProvider';
import { setFlagsFromString } from 'v8';
import { runInNewContext } from 'vm';
import { Fifo } from '../../src/socket/fifo';
import { Held } from '../../src/socket/held';
import type { Inbound } from '../../src';
import { fakeSocket } from '../support/fake';
import { mulberry32 } from '../support/random';

/** The hold as a `Subject` multicasts it: the reference. */
class SubjectHeld<T> {
  readonly #subject = new Subject<T>();
  #queue: Fifo<T> | null = null;
  #delivering = false;
  #ended = false;
  #failure: unknown;

  readonly stream: Observable<T> = new Observable<T>((subscriber) => this.subscribed(subscriber));

  subscribed(subscriber: Subscriber<T>): void {
    this.#subject.subscribe(subscriber);
    if (!this.#delivering) this.#flush();
  }

  get length(): number {
    return this.#queue?.length ?? 0;
  }

  push(value: T): void {
    if (this.#ended) return;
    const subject = this.#subject;
    if (!this.#delivering && this.length === 0 && subject.observed) {
      this.#delivering = true;
      try {
        subject.next(value);
      } finally {
        this.#delivering = false;
      }
      if (this.length > 0 || this.#ended) this.#flush();
      return;
    }
    (this.#queue ??= new Fifo<T>()).push(value);
    this.held(value);
    if (!this.#delivering && subject.observed) this.#flush();
  }

  end(failure?: unknown): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#failure = failure;
    if (!this.#delivering) this.#flush();
  }

  forget(value: T): void {
    if (this.#queue?.remove(value) === true) this.released(value);
  }

  protected held(_value: T): void {}
  protected released(_value: T): void {}

  #flush(): void {
    const subject = this.#subject;
    this.#delivering = true;
    try {
      while (this.length > 0 && subject.observed) {
        const value = this.#queue!.shift();
        this.released(value);
        subject.next(value);
      }
    } finally {
      this.#delivering = false;
    }
    if (!this.#ended || this.length > 0) return;
    if (this.#failure !== undefined) subject.error(this.#failure);
    else subject.complete();
  }
}

interface Hold {
  readonly stream: Observable<number>;
  readonly length: number;
  push(value: number): void;
  end(failure?: unknown): void;
  forget(value: number): void;
}

type Kind = 'plain' | 'raw' | 'take' | 'takeUntil' | 'share' | 'map';
type Op =
  | { t: 'push' }
  | { t: 'end'; fail: boolean }
  | { t: 'sub'; id: number; kind: Kind; n: number; onNext: (Op | undefined)[]; onComplete?: Op; onError?: Op }
  | { t: 'unsub'; id: number }
  | { t: 'notify'; id: number }
  | { t: 'forget'; back: number }
  | { t: 'throw' };

/** Runs `program` against a hold and returns everything that was observable from outside. */
/** A program: top-level steps, and what the hold's `held()` and `released()` hooks do on their n-th call (as a subclass's hooks may). */
interface Program {
  ops: Op[];
  onHeld: (Op | undefined)[];
  onReleased: (Op | undefined)[];
}

type Base = new () => Hold;

function run(Base: Base, { ops: program, onHeld, onReleased }: Program): string[] {
  const log: string[] = [];
  const pending: (() => void)[] = [];
  const saved = { delegate: timeoutProvider.delegate, stopped: config.onStoppedNotification, unhandled: config.onUnhandledError };
  timeoutProvider.delegate = {
    setTimeout: (handler: () => void) => {
      pending.push(handler);
      return 0 as never;
    },
    clearTimeout: () => undefined,
  } as never;
  config.onStoppedNotification = (notification) => log.push(`stopped ${notification.kind}`);
  config.onUnhandledError = (err) => log.push(`unhandled ${String((err as Error).message)}`);
  let heldCalls = 0;
  let releasedCalls = 0;
  let exec: (op: Op, where: string) => void = () => undefined;
  const Hooked = class extends Base {
    held(value: number): void {
      log.push(`held ${value} (${this.length})`);
      const op = onHeld[heldCalls++];
      if (op) exec(op, 'in held');
    }
    released(value: number): void {
      log.push(`released ${value} (${this.length})`);
      const op = onReleased[releasedCalls++];
      if (op) exec(op, 'in released');
    }
  };
  const held = new Hooked();
  const subs = new Map<number, Subscription>();
  const notifiers = new Map<number, Subject<void>>();
  let shared: Observable<number> | null = null;
  let counter = 0;
  const pushed: number[] = [];
  exec = (op: Op, where: string): void => {
    switch (op.t) {
      case 'push': {
        const value = ++counter;
        pushed.push(value);
        log.push(`${where} push ${value}`);
        held.push(value);
        return;
      }
      case 'end':
        log.push(`${where} end`);
        held.end(op.fail ? new Error('failed') : undefined);
        return;
      case 'unsub':
        subs.get(op.id)?.unsubscribe();
        return;
      case 'notify':
        notifiers.get(op.id)?.next();
        return;
      case 'forget': {
        const value = pushed[pushed.length - 1 - op.back];
        if (value !== undefined) held.forget(value);
        return;
      }
      case 'throw':
        throw new Error(`thrown ${where}`);
      case 'sub': {
        const id = op.id;
        let calls = 0;
        const observer = {
          next: (v: number) => {
            log.push(`${id} next ${v}`);
            const nested = op.onNext[calls++];
            if (nested) exec(nested, `in ${id} next`);
          },
          error: (e: unknown) => {
            log.push(`${id} error ${(e as Error).message}`);
            if (op.onError) exec(op.onError, `in ${id} error`);
          },
          complete: () => {
            log.push(`${id} complete`);
            if (op.onComplete) exec(op.onComplete, `in ${id} complete`);
          },
        };
        let source: Observable<number> = held.stream;
        switch (op.kind) {
          case 'take':
            source = source.pipe(take(op.n));
            break;
          case 'takeUntil': {
            const notifier = new Subject<void>();
            notifiers.set(id, notifier);
            source = source.pipe(takeUntil(notifier));
            break;
          }
          case 'share':
            source = shared ??= held.stream.pipe(share());
            break;
          case 'map':
            source = source.pipe(
              map((v) => {
                if (v % op.n === 0) throw new Error(`map ${v}`);
                return v;
              }),
            );
            break;
        }
        const subscription = op.kind === 'raw' ? source.subscribe(new Subscriber<number>(observer)) : source.subscribe(observer);
        subs.set(id, subscription);
        return;
      }
    }
  };
  try {
    for (const op of program) {
      try {
        exec(op, 'top');
      } catch (err) {
        log.push(`threw ${(err as Error).message}`);
      }
      while (pending.length > 0) pending.shift()!();
      log.push(`length ${held.length}`);
    }
    // Whatever is still held goes to a last subscriber.
    try {
      held.stream.subscribe({ next: (v) => log.push(`last next ${v}`), complete: () => log.push('last complete') });
    } catch (err) {
      log.push(`threw ${(err as Error).message}`);
    }
    while (pending.length > 0) pending.shift()!();
    log.push(`length ${held.length}`);
  } finally {
    timeoutProvider.delegate = saved.delegate;
    config.onStoppedNotification = saved.stopped;
    config.onUnhandledError = saved.unhandled;
  }
  return log;
}


function program(seed: number, length: number, raw = true): Program {
  const rnd = mulberry32(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(rnd() * items.length)]!;
  let nextId = 0;
  // A raw Subscriber's throw goes straight through rxjs (under its deprecated synchronous error handling, leaving it in a broken state).
  const kinds: Kind[] = ['plain', 'plain', ...(raw ? (['raw'] as const) : []), 'take', 'takeUntil', 'share', 'map'];
  const op = (depth: number): Op => {
    const r = rnd();
    if (r < 0.35) return { t: 'push' };
    if (r < 0.45) return { t: 'end', fail: rnd() < 0.5 };
    if (r < 0.7 && depth < 3) {
      const reactions = (): Op | undefined => (rnd() < 0.3 ? (rnd() < 0.1 ? { t: 'throw' } : op(depth + 1)) : undefined);
      return {
        t: 'sub',
        id: ++nextId,
        kind: pick(kinds),
        n: 1 + Math.floor(rnd() * 3),
        onNext: [reactions(), reactions(), reactions(), reactions()],
        ...(rnd() < 0.3 && { onComplete: op(depth + 1) }),
        ...(rnd() < 0.3 && { onError: op(depth + 1) }),
      };
    }
    if (r < 0.85) return { t: 'unsub', id: 1 + Math.floor(rnd() * Math.max(nextId, 1)) };
    if (r < 0.93) return { t: 'notify', id: 1 + Math.floor(rnd() * Math.max(nextId, 1)) };
    return { t: 'forget', back: Math.floor(rnd() * 3) };
  };
  const hooks = (): (Op | undefined)[] => Array.from({ length: 8 }, () => (rnd() < 0.15 ? op(2) : undefined));
  return { ops: Array.from({ length }, () => op(0)), onHeld: hooks(), onReleased: hooks() };
}

describe('Held tells its subscribers what a Subject would', () => {
  it('leaves the same trace as a Subject-based hold, over random programs', () => {
    for (let seed = 1; seed <= Number(process.env.HELD_SEEDS ?? 3000); seed++) {
      const ops = program(seed, 4 + (seed % 20));
      const expected = run(SubjectHeld as Base, ops);
      const actual = run(Held as Base, ops);
      if (JSON.stringify(actual) !== JSON.stringify(expected)) {
        // The first program that differs, with both traces.
        expect({ seed, ops, actual }).toEqual({ seed, ops, actual: expected });
      }
    }
  });

  it('and so it does under rxjs deprecated synchronous error handling (a throwing subscriber throws out of the call)', () => {
    config.useDeprecatedSynchronousErrorHandling = true;
    try {
      for (let seed = 1; seed <= Number(process.env.HELD_SEEDS ?? 3000); seed++) {
        const ops = program(seed, 4 + (seed % 20), false);
        const expected = run(SubjectHeld as Base, ops);
        const actual = run(Held as Base, ops);
        if (JSON.stringify(actual) !== JSON.stringify(expected)) {
          expect({ seed, ops, actual }).toEqual({ seed, ops, actual: expected });
        }
      }
    } finally {
      config.useDeprecatedSynchronousErrorHandling = false;
    }
  });
});

describe('Held under rxjs deprecated synchronous error handling', () => {
  beforeEach(() => (config.useDeprecatedSynchronousErrorHandling = true));
  afterEach(() => (config.useDeprecatedSynchronousErrorHandling = false));

  it.each([
    ['a Subject-based hold', () => new SubjectHeld<number>() as Hold],
    ['Held', () => new Held<number>() as Hold],
  ])('%s: a subscriber that throws in next makes push() throw, after every subscriber was told', (_name, make) => {
    const held = make();
    const boom = new Error('boom');
    const seen: number[] = [];
    held.stream.subscribe((v) => {
      if (v === 1) throw boom;
    });
    held.stream.subscribe((v) => seen.push(v));
    expect(() => held.push(1)).toThrow(boom);
    expect(seen).toEqual([1]);
    held.push(2); // the hold goes on
    expect(seen).toEqual([1, 2]);
  });

  it.each([
    ['a Subject-based hold', () => new SubjectHeld<number>() as Hold],
    ['Held', () => new Held<number>() as Hold],
  ])('%s: a failure nobody handles makes end() throw it', (_name, make) => {
    const held = make();
    const failure = new Error('failed');
    held.stream.subscribe(() => undefined);
    expect(() => held.end(failure)).toThrow(failure);
  });
});

describe("a socket's messages$ hold, with subscribers that come and go", () => {
  it('fills again and stops reading once the last subscriber left, though nothing arrived since', () => {
    const { socket, fake } = fakeSocket({ inboundHold: 3 });
    const first: Inbound[] = [];
    const subscription = socket.messages$.subscribe((m) => first.push(m));
    fake.receive('a');
    subscription.unsubscribe();
    fake.receive('1');
    fake.receive('2');
    expect(fake.isPaused).toBe(false);
    fake.receive('3');
    expect(fake.isPaused).toBe(true);
    fake.receive('4'); // waits
    const next: Inbound[] = [];
    socket.messages$.subscribe((m) => next.push(m));
    expect(first).toEqual(['a']);
    expect(next).toEqual(['1', '2', '3', '4']);
    expect(fake.isPaused).toBe(false);
  });

  it('fills again once several subscribers left from inside their handlers (take(1), unsubscribe in next)', () => {
    const { socket, fake } = fakeSocket({ inboundHold: 2 });
    const seen: string[] = [];
    socket.messages$.pipe(take(1)).subscribe((m) => seen.push(`a${String(m)}`));
    const b: Subscription = socket.messages$.subscribe((m) => {
      seen.push(`b${String(m)}`);
      b.unsubscribe();
    });
    fake.receive('1');
    fake.receive('2');
    expect(fake.isPaused).toBe(false);
    fake.receive('3');
    expect(fake.isPaused).toBe(true);
    expect(seen).toEqual(['a1', 'b1']);
    socket.messages$.subscribe((m) => seen.push(`c${String(m)}`));
    expect(seen).toEqual(['a1', 'b1', 'c2', 'c3']);
    expect(fake.isPaused).toBe(false);
  });

  it('hands each frame over once, in order, when a subscriber leaves half-way through frames that arrive as reading resumes', () => {
    const { socket, fake } = fakeSocket({ inboundHold: 3 });
    for (const m of ['1', '2', '3', '4', '5', '6', '7']) fake.receive(m); // 1-3 held, 4-7 wait
    expect(fake.isPaused).toBe(true);
    const first: Inbound[] = [];
    socket.messages$.pipe(take(4)).subscribe((m) => first.push(m));
    expect(first).toEqual(['1', '2', '3', '4']);
    expect(fake.isPaused).toBe(true); // 5-7 held
    const next: Inbound[] = [];
    socket.messages$.subscribe((m) => next.push(m));
    expect(next).toEqual(['5', '6', '7']);
    expect(fake.isPaused).toBe(false);
  });
});

describe('what Held keeps of a subscriber that left', () => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;

  /** Subscribes through an operator whose function holds an object, leaves, and returns a weak reference to that object. */
  function leave(stream: Observable<number>): WeakRef<object> {
    const state = { payload: new Array<number>(1000).fill(1) };
    stream.pipe(map((v) => v + state.payload.length)).subscribe().unsubscribe();
    return new WeakRef(state);
  }

  async function collected(ref: WeakRef<object>): Promise<boolean> {
    await new Promise((resolve) => setImmediate(resolve)); // a WeakRef holds its target until the turn ends
    gc();
    return ref.deref() === undefined;
  }

  it.each([
    ['push', (held: Hold) => held.push(1)],
    ['subscription', (held: Hold) => void held.stream.subscribe()],
    ['end', (held: Hold) => held.end()],
  ])('lets it go, with what its operators hold, at the next %s', async (_name, next) => {
    const held = new Held<number>();
    const ref = leave(held.stream);
    next(held);
    expect(await collected(ref)).toBe(true);
  });

  it('lets go of many that left, at the next look', async () => {
    const held = new Held<number>();
    const refs = Array.from({ length: 5 }, () => leave(held.stream));
    held.stream.subscribe();
    for (const ref of refs) expect(await collected(ref)).toBe(true);
  });

  it('a Subject-based hold lets it go at once', async () => {
    const ref = leave(new SubjectHeld<number>().stream);
    expect(await collected(ref)).toBe(true);
  });

  // The price of no teardown per subscriber: until the hold next looks (a value, a subscriber, the end), it keeps the closed subscriber.
  it('Held keeps it until that next look', async () => {
    const held = new Held<number>();
    const ref = leave(held.stream);
    expect(await collected(ref)).toBe(false);
    held.push(1);
    expect(await collected(ref)).toBe(true);
  });
});

describe('a value pushed while a subscriber is leaving', () => {
  it.each([
    ['Held keeps it for the next subscriber', () => new Held<number>() as Hold, [7]],
    // A Subject still counts the subscriber until its own teardown runs, and tells it (stopped): the value is lost.
    ['a Subject-based hold loses it', () => new SubjectHeld<number>() as Hold, []],
  ])('%s (pushed by a teardown the subscriber had before it subscribed)', (_name, make, expected) => {
    const held = make();
    const first: number[] = [];
    new Observable<number>((subscriber) => {
      subscriber.add(() => held.push(7));
      held.stream.subscribe(subscriber);
    })
      .subscribe((v) => first.push(v))
      .unsubscribe();
    const next: number[] = [];
    held.stream.subscribe((v) => next.push(v));
    expect(first).toEqual([]);
    expect(next).toEqual(expected);
  });
});
