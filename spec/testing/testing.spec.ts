/**
 * rxjs-ws/testing, proven twice: the kit itself, and the library's heartbeat,
 * close and flow-control logic re-proved through it, as users would.
 */
import { count, filter, interval, map, takeUntil } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import {
  BackpressureError,
  CloseCode,
  FrameDroppedError,
  HeartbeatTimeoutError,
  InvalidArgumentError,
  SocketClosedError,
  type RxSocket,
} from 'rxjs-ws';
import { testSocket, type WireEvent } from 'rxjs-ws/testing';

// ---- The example of docs/testing.md, as it is written there ----

// The handler under test: an echo, plus a "heart beat" every second.
function echo(socket: RxSocket): void {
  socket.messages$.subscribe(socket);
  interval(1000)
    .pipe(map(() => 'heart beat'), takeUntil(socket.close$))
    .subscribe(socket);
}

describe('docs/testing.md: the echo handler', () => {
  let testScheduler: TestScheduler;
  beforeEach(() => (testScheduler = new TestScheduler((actual, expected) => expect(actual).toEqual(expected))));

  it('echoes text as text and binary as binary, and closes when the peer does', () => {
    testScheduler.run(() => {
      const t = testSocket(testScheduler);
      echo(t.socket);
      t.inbound('-a-b-|', { a: 'hi', b: Buffer.from([1, 2]) }); // |: the peer's close frame (1000)
      t.expectSent('-a-b-(c|)', { a: 'hi', b: Buffer.from([1, 2]), c: { close: 1000 } });
    });
  });

  it('sends "heart beat" every second and drops a peer after 3 unanswered pings', () => {
    testScheduler.run(({ expectObservable }) => {
      // A ping after 1 s of quiet, then every second; the peer is gone 3 s after the first unanswered one.
      const t = testSocket(testScheduler, { heartbeat: { interval: 1000, timeout: 3000 } });
      echo(t.socket);
      t.expectSent('1s (bp) 996ms (bp) 996ms (bp) 996ms (bt|)', {
        b: 'heart beat',
        p: { ping: true },
        t: { terminate: true },
      });
      expectObservable(t.socket.close$).toBe('4s (c|)', {
        c: { code: 1006, reason: 'Heartbeat timeout', wasClean: false, error: expect.any(HeartbeatTimeoutError) },
      });
    });
  });
});

// ---- The kit ----

let scheduler: TestScheduler;
beforeEach(() => (scheduler = new TestScheduler((actual, expected) => expect(actual).toEqual(expected))));

const closed = (code: number, reason = '', wasClean = true) => ({ c: { code, reason, wasClean } });
const isPing = (e: WireEvent) => typeof e === 'object' && 'ping' in e;

describe('testSocket', () => {
  it('reads marbles as text frames of that character when no values are given', () => {
    scheduler.run(({ expectObservable }) => {
      const t = testSocket(scheduler);
      t.socket.messages$.subscribe(t.socket);
      t.inbound('-x-y-|');
      expectObservable(t.sent$.pipe(filter((e) => typeof e === 'string'))).toBe('-x-y-|');
    });
  });

  it('# is a dropped connection: no close frame, close$ reports 1006, messages$ completes', () => {
    scheduler.run(({ expectObservable }) => {
      const t = testSocket(scheduler);
      t.inbound('--a-#');
      t.expectSent('----|');
      expectObservable(t.socket.messages$).toBe('--a-|');
      expectObservable(t.socket.close$).toBe('----(c|)', closed(1006, '', false));
    });
  });

  it("answers the peer's close frame with its code, as ws does", () => {
    scheduler.run(({ expectObservable }) => {
      const t = testSocket(scheduler);
      t.inbound('---k', { k: { close: 4001, reason: 'kicked' } });
      t.expectSent('---(c|)', { c: { close: 4001, reason: 'kicked' } });
      expectObservable(t.socket.messages$).toBe('---|');
      expectObservable(t.socket.close$).toBe('---(c|)', closed(4001, 'kicked'));
    });
  });

  it('the peer answers our close frame in the same frame of time (answerClose)', () => {
    scheduler.run(({ cold, expectObservable }) => {
      const t = testSocket(scheduler);
      cold('--x').subscribe(() => t.socket.close(4000, 'bye'));
      t.expectSent('--(c|)', { c: { close: 4000, reason: 'bye' } });
      expectObservable(t.socket.close$).toBe('--(c|)', closed(4000, 'bye'));
    });
  });

  it('with answerClose: false the socket stays closing until inbound() closes it', () => {
    scheduler.run(({ cold, expectObservable }) => {
      const t = testSocket(scheduler, { answerClose: false });
      cold('--x').subscribe(() => t.socket.close());
      cold('----y').subscribe(() => t.socket.next('too late'));
      t.inbound('------k', { k: { close: 1000 } });
      t.expectSent('--c---|', { c: { close: 1000 } });
      expectObservable(t.socket.errors$.pipe(map((e) => e.constructor))).toBe('----e-', { e: SocketClosedError });
      expectObservable(t.socket.close$).toBe('------(c|)', closed(1000));
    });
  });

  it('sent$ composes with the usual operators', () => {
    scheduler.run(({ expectObservable }) => {
      const t = testSocket(scheduler, { heartbeat: { interval: 1000, timeout: 500 }, autoPong: true });
      t.inbound('10s |');
      // A healthy peer (it pongs at once) is pinged after each second of quiet, and never dropped.
      expectObservable(t.sent$.pipe(filter(isPing), count())).toBe('10s (n|)', { n: 9 });
    });
  });

  it('sent$ replays what was sent before it was subscribed', () => {
    scheduler.run(({ cold, expectObservable }) => {
      const t = testSocket(scheduler);
      t.socket.next('hello'); // at once, before the flush subscribes anything
      cold('-|').subscribe({ complete: () => t.socket.complete() });
      expectObservable(t.sent$).toBe('a(c|)', { a: 'hello', c: { close: 1000 } });
    });
  });

  it('stops virtual time at the horizon when nothing ends the test', () => {
    scheduler.run(() => {
      const t = testSocket(scheduler, { horizon: 3000 });
      interval(1000).subscribe((n) => t.socket.next(`${n}`)); // never ends
      t.expectSent('1s a 999ms b 999ms c', { a: '0', b: '1', c: '2' });
    });
    expect(scheduler.maxFrames).toBe(750); // run() restores it
  });

  it('checks its arguments when called', () => {
    scheduler.run(() => {
      expect(() => testSocket({} as TestScheduler)).toThrow('Expected `scheduler` to be a TestScheduler, got `{}` (object)');
      expect(() => testSocket(scheduler, { autoPong: 1 as never })).toThrow(InvalidArgumentError);
      expect(() => testSocket(scheduler, { horizon: -1 })).toThrow('Expected `options.horizon` to be an integer >= 0, got `-1` (number)');
      const t = testSocket(scheduler);
      expect(() => t.inbound('a', { a: { clsoe: 1000 } as never })).toThrow(/Expected `values.a` to be a frame \(string or Uint8Array\) or one of/);
      expect(() => t.inbound('a', { a: 42 as never })).toThrow(InvalidArgumentError);
      t.socket.terminate();
    });
  });
});

// ---- The library, re-proved through the kit ----

describe('heartbeat, through the kit', () => {
  it('a pong moves the next ping; silence after it is fatal interval + timeout later', () => {
    scheduler.run(({ expectObservable }) => {
      const t = testSocket(scheduler, { heartbeat: { interval: 1000, timeout: 500 } });
      t.inbound('1200ms p', { p: { pong: true } });
      t.expectSent('1s p 1199ms p 499ms (t|)', { p: { ping: true }, t: { terminate: true } });
      const error = new HeartbeatTimeoutError({ lastPongAt: 1200, missed: 1, timeout: 500 });
      expectObservable(t.socket.messages$).toBe('2700ms |');
      expectObservable(t.socket.close$).toBe('2700ms (c|)', { c: { code: 1006, reason: 'Heartbeat timeout', wasClean: false, error } });
    });
  });

  it('any frame is life by default; with life: "pong" a chatty peer that never pongs is dropped', () => {
    const chatter = `100ms a${' 99ms a'.repeat(14)}`; // a frame every 100 ms until 1500 ms
    scheduler.run(() => {
      const t = testSocket(scheduler, { heartbeat: { interval: 1000, timeout: 500 } });
      t.inbound(`${chatter} 99ms |`);
      t.expectSent('1600ms (c|)', { c: { close: 1000 } }); // never pinged: the frames were life
    });
    const fresh = new TestScheduler((actual, expected) => expect(actual).toEqual(expected)); // virtual time goes on across run()s
    fresh.run(() => {
      const t = testSocket(fresh, { heartbeat: { interval: 1000, timeout: 500, life: 'pong' } });
      t.inbound(chatter);
      t.expectSent('1s p 499ms (t|)', { p: { ping: true }, t: { terminate: true } });
    });
  });

  it('stops pinging and releases its timer when the socket closes', () => {
    scheduler.run(() => {
      const t = testSocket(scheduler, { heartbeat: { interval: 1000, timeout: 500 } });
      t.inbound('500ms |');
      t.expectSent('500ms (c|)', { c: { close: 1000 } });
    });
    expect(scheduler.actions).toEqual([]); // nothing left scheduled: the virtual clock is not kept busy
  });
});

describe('close, through the kit', () => {
  it.each([CloseCode.NORMAL, CloseCode.GOING_AWAY, CloseCode.NO_STATUS, 4001, CloseCode.INTERNAL_ERROR])(
    'a peer close with %p completes messages$, and close$ carries the code',
    (code) => {
      scheduler.run(({ expectObservable }) => {
        const t = testSocket(scheduler);
        t.inbound('--k', { k: { close: code } });
        expectObservable(t.socket.messages$).toBe('--|');
        expectObservable(t.socket.close$).toBe('--(c|)', closed(code));
      });
    },
  );

  it('complete() closes with 1000, error() with 1011 (and the error stays here)', () => {
    scheduler.run(({ cold }) => {
      const a = testSocket(scheduler);
      const b = testSocket(scheduler);
      cold('-|').subscribe(a.socket);
      cold('--#', undefined, new Error('secret')).subscribe(b.socket);
      a.expectSent('-(c|)', { c: { close: 1000 } });
      b.expectSent('--(c|)', { c: { close: 1011 } });
    });
  });

  it('close() sends the queued frames first, then the close frame', () => {
    scheduler.run(({ cold }) => {
      const t = testSocket(scheduler);
      t.inbound('s', { s: { stall: true } });
      cold('-ab-x').subscribe((v) => (v === 'x' ? t.socket.close(1001) : t.socket.next(v)));
      t.expectSent('----(abc|)', { a: 'a', b: 'b', c: { close: 1001 } });
    });
  });
});

describe('flow control, through the kit', () => {
  it("drop-newest: frames past the limit are dropped while the peer stalls; the rest go at 'drain'", () => {
    scheduler.run(({ expectObservable }) => {
      const t = testSocket(scheduler, { outbound: { policy: 'drop-newest', maxMessages: 2 } });
      t.socket.messages$.subscribe(t.socket);
      t.inbound('s-abcd-----r----e-|', { s: { stall: true }, a: 'a', b: 'b', c: 'c', d: 'd', r: { drain: true }, e: 'e' });
      t.expectSent('-----------(ab)-e-(c|)', { a: 'a', b: 'b', e: 'e', c: { close: 1000 } });
      expectObservable(t.socket.errors$.pipe(map((e) => e instanceof FrameDroppedError && e.why), takeUntil(t.socket.close$))).toBe('----dd------------|', {
        d: 'drop-newest',
      });
      expectObservable(t.socket.writable$).toBe('t-f--------t------(f|)', { t: true, f: false });
    });
  });

  it('error + pauseReading: a full queue refuses the frame (BackpressureError), and reading stops while frames wait', () => {
    scheduler.run(({ cold, expectObservable }) => {
      const t = testSocket(scheduler, { outbound: { policy: 'error', maxMessages: 1, pauseReading: true } });
      t.inbound('s---r', { s: { stall: true }, r: { drain: true } });
      cold('-ab').subscribe((v) => t.socket.next(v));
      const paused = cold('---x----x').pipe(map(() => t.ws.isPaused));
      expectObservable(paused).toBe('---p----q', { p: true, q: false });
      expectObservable(t.socket.errors$.pipe(map((e) => e instanceof BackpressureError), takeUntil(t.socket.close$))).toBe('--e-----|', { e: true });
      t.expectSent('----a---(t|)', { a: 'a', t: { terminate: true } });
      cold('--------x').subscribe(() => t.socket.terminate());
    });
  });

  it('close: a full queue is discarded and the socket closes with 1013', () => {
    scheduler.run(({ cold }) => {
      const t = testSocket(scheduler, { outbound: { policy: 'close', maxMessages: 1 } });
      t.inbound('s', { s: { stall: true } });
      cold('-ab').subscribe((v) => t.socket.next(v));
      t.expectSent('--(c|)', { c: { close: CloseCode.TRY_AGAIN_LATER, reason: 'Outbound queue full' } });
    });
  });
});
