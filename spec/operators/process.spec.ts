import { defer, delay as rxDelay, from, Observable, of, Subject, throwError } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { InvalidArgumentError, type Inbound } from '../../src';
import { fakeSocket } from '../support/fake';
import { delay, listen, open } from '../support/net';

describe('socket.process()', () => {
  it('handles every frame once, in order, one at a time by default', () => {
    new TestScheduler((a, b) => expect(a).toEqual(b)).run(({ cold, expectObservable }) => {
      const { socket, fake } = fakeSocket();
      cold('abc').subscribe((f) => fake.receive(f));
      // Each frame takes 3 frames of work: results at 3, 6, 9.
      const out = socket.process((frame) => of(`done ${frame}`).pipe(rxDelay(3)));
      expectObservable(out, '^ 20ms !').toBe('---x--y--z', { x: 'done a', y: 'done b', z: 'done c' });
    });
  });

  it('stops reading at the high-water mark and reads again at the low-water mark', () => {
    const { socket, fake } = fakeSocket();
    const work: Subject<void>[] = [];
    const handled: Inbound[] = [];
    socket
      .process(
        (frame) => {
          const done = new Subject<void>();
          work.push(done);
          return new Observable<void>((s) => done.subscribe(() => (handled.push(frame), s.complete())));
        },
        { highWaterMark: 4, lowWaterMark: 1 },
      )
      .subscribe();
    for (let i = 0; i < 5; i++) fake.receive(String(i)); // 1 active + 4 waiting
    expect(fake.isPaused).toBe(true);
    work[0]!.next(); // 3 waiting
    work[1]!.next(); // 2 waiting
    expect(fake.isPaused).toBe(true);
    work[2]!.next(); // 1 waiting
    expect(fake.isPaused).toBe(false);
    work[3]!.next();
    work[4]!.next();
    expect(handled).toEqual(['0', '1', '2', '3', '4']);
  });

  it('runs up to `concurrency` handlers at once', () => {
    const { socket, fake } = fakeSocket();
    let running = 0;
    let most = 0;
    const gates: Subject<void>[] = [];
    socket
      .process(
        () =>
          defer(() => {
            running++;
            most = Math.max(most, running);
            const gate = new Subject<void>();
            gates.push(gate);
            return gate;
          }),
        { concurrency: 3 },
      )
      .subscribe();
    for (let i = 0; i < 10; i++) fake.receive('x');
    expect(most).toBe(3);
    gates[0]!.complete();
    running--;
    expect(gates).toHaveLength(4);
  });

  it('copes with handlers that complete synchronously without growing the stack', () => {
    const { socket, fake } = fakeSocket();
    let n = 0;
    socket.process(() => from([1])).subscribe(() => n++);
    for (let i = 0; i < 50_000; i++) fake.receive('x');
    expect(n).toBe(50_000);
  });

  it('completes after the close once every frame is handled; resumes the socket on unsubscribe', () => {
    const { socket, fake } = fakeSocket();
    const gate = new Subject<void>();
    let completed = false;
    socket.process(() => gate).subscribe({ complete: () => (completed = true) });
    fake.receive('a');
    fake.receiveClose(1000);
    expect(completed).toBe(false);
    gate.complete();
    expect(completed).toBe(true);

    const other = fakeSocket();
    const sub = other.socket.process(() => new Subject<void>(), { highWaterMark: 1, lowWaterMark: 0 }).subscribe();
    other.fake.receive('a');
    other.fake.receive('b');
    expect(other.fake.isPaused).toBe(true);
    sub.unsubscribe();
    expect(other.fake.isPaused).toBe(false);
  });

  it('errors when a handler errors', () => {
    const { socket, fake } = fakeSocket();
    let error: unknown;
    socket.process(() => throwError(() => new Error('boom'))).subscribe({ error: (e) => (error = e) });
    fake.receive('a');
    expect((error as Error).message).toBe('boom');
  });

  it('validates its options when called', () => {
    const { socket } = fakeSocket();
    expect(() => socket.process(() => of(1), { concurrency: 0 })).toThrow(InvalidArgumentError);
    expect(() => socket.process(() => of(1), { highWaterMark: 4, lowWaterMark: 4 })).toThrow(
      'Expected `lowWaterMark` to be below `highWaterMark` (4), got `4` (number)',
    );
    expect(() => socket.process('nope' as never)).toThrow('Expected `handler` to be a function, got `"nope"` (string)');
  });

  it('a client flooding 100,000 messages at a slow handler: each handled once, in order, backlog bounded', async () => {
    const { server, url } = await listen();
    const total = 100_000;
    const seen: number[] = [];
    let mostWaiting = 0;
    const done = new Promise<void>((resolve) => {
      server.connections$.subscribe((socket) => {
        socket
          .process(
            (frame) =>
              new Promise<void>((settle) =>
                setImmediate(() => {
                  seen.push(Number((frame as string).slice(0, 8)));
                  mostWaiting = Math.max(mostWaiting, socket.stats.received - seen.length);
                  settle();
                }),
              ),
            { highWaterMark: 64 },
          )
          .subscribe({ complete: () => resolve() });
      });
    });
    const client = await open(url());
    const filler = 'x'.repeat(92);
    for (let i = 0; i < total; i++) client.send(`${String(i).padStart(8, '0')}${filler}`);
    client.close(1000);
    await done;
    expect(seen).toHaveLength(total);
    expect(seen.every((v, i) => v === i)).toBe(true);
    // Reading stops at 64 waiting frames; one TCP read (64 KiB) of 106-byte frames may land on top.
    expect(mostWaiting).toBeLessThanOrEqual(64 + Math.ceil((64 * 1024) / 106) + 1);
    await delay(10);
  }, 60_000);
});

describe('socket.process() with a handler that fails outright', () => {
  it('errors the pipeline (not the process) when the handler throws or returns nothing usable', () => {
    for (const handler of [
      () => {
        throw new Error('thrown');
      },
      () => undefined as never,
    ]) {
      const { socket, fake } = fakeSocket();
      let error: unknown;
      socket.process(handler).subscribe({ error: (e) => (error = e) });
      fake.receive('a');
      expect(error).toBeInstanceOf(Error);
      expect(fake.isPaused).toBe(false);
    }
  });

  it('counts backlog pauses per pipeline: one resuming does not let the other overflow', () => {
    const { socket, fake } = fakeSocket();
    const hold = () => new Subject<void>();
    const a = socket.process(hold, { highWaterMark: 1, lowWaterMark: 0 }).subscribe();
    socket.process(hold, { highWaterMark: 1, lowWaterMark: 0 }).subscribe();
    fake.receive('1');
    fake.receive('2');
    expect(fake.isPaused).toBe(true);
    a.unsubscribe();
    expect(fake.isPaused).toBe(true); // the second pipeline still has a backlog
  });
});
