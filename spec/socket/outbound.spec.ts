import { map, takeUntil } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { WebSocket } from 'ws';
import { BackpressureError, FrameDroppedError, InvalidArgumentError, type CloseInfo, type OutboundOptions, type RxjsWsError } from '../../src';
import { testSocket } from '../../src/testing';
import { FakeWebSocket } from '../../src/testing/fake-ws';
import { fakeSocket } from '../support/fake';
import { MemoryBudget } from '../../src/server/budget';

/** A socket whose TCP side is congested from the start. */
function congested(outbound: OutboundOptions, fake = new FakeWebSocket()) {
  const made = fakeSocket({ outbound }, fake);
  fake._socket.writableNeedDrain = true;
  const errors: RxjsWsError[] = [];
  made.socket.errors$.subscribe((e) => errors.push(e));
  const sent = () => fake.sent.map((f) => f.data.toString());
  return { ...made, errors, sent };
}

describe('outbound flow control', () => {
  it('sends straight through while the TCP socket takes data', () => {
    const { socket, fake } = fakeSocket();
    socket.next('a');
    expect(fake.sent).toHaveLength(1);
    expect(socket.bufferedAmount).toBe(0);
  });

  it('queues while congested and flushes in order on drain; writable$ follows', () => {
    const { socket, fake, sent } = congested({});
    const writable: boolean[] = [];
    socket.writable$.subscribe((w) => writable.push(w));
    socket.next('a');
    socket.next('bb');
    expect(sent()).toEqual([]);
    expect(socket.bufferedAmount).toBe(3);
    fake._socket.drain();
    expect(sent()).toEqual(['a', 'bb']);
    expect(socket.bufferedAmount).toBe(0);
    expect(writable).toEqual([true, false, true]);
    expect(fake._socket.listenerCount('drain')).toBe(0);
  });

  it('flushes only while the socket keeps taking data', () => {
    const { socket, fake, sent } = congested({});
    for (const f of ['a', 'b', 'c']) socket.next(f);
    // The socket fills up again after one frame:
    const send = fake.send.bind(fake);
    fake.send = (data: unknown) => {
      send(data);
      fake._socket.writableNeedDrain = true;
    };
    fake._socket.drain();
    expect(sent()).toEqual(['a']);
    fake._socket.drain();
    expect(sent()).toEqual(['a', 'b']);
  });

  describe("policy 'error' (default)", () => {
    it('keeps reading from the peer while frames queue: reading never waits on writing by default', () => {
      const { socket, fake } = congested({});
      socket.next('x');
      expect(fake.isPaused).toBe(false);
      fake.receive('still read');
      expect(socket.stats.received).toBe(1);
    });

    it('refuses frames past the message limit with BackpressureError, losing nothing it accepted', () => {
      const { socket, fake, errors, sent } = congested({ maxMessages: 3 });
      for (const f of ['1', '2', '3']) socket.next(f);
      socket.next('4');
      expect(() => socket.send('5')).toThrow(BackpressureError);
      expect(errors).toHaveLength(1); // send() throws instead of reporting
      expect(errors[0]).toMatchObject({ code: 'RXJS_WS_OUTBOUND_FULL', policy: 'error', queued: { messages: 3, bytes: 3 } });
      expect(socket.stats).toMatchObject({ sent: 3, refused: 2 });
      fake._socket.drain();
      expect(sent()).toEqual(['1', '2', '3']);
    });

    it('refuses frames past the byte limit', () => {
      const { socket, errors } = congested({ maxBytes: 10 });
      socket.next('123456');
      socket.next('7890');
      socket.next('x');
      expect(errors.map((e) => e.code)).toEqual(['RXJS_WS_OUTBOUND_FULL']);
      expect(socket.bufferedAmount).toBe(10);
    });

    it('queues a frame bigger than the whole bound when the queue is empty, so no frame size is refused outright', () => {
      const { socket, fake, errors, sent } = congested({ maxBytes: 4 });
      socket.next('too big for the bound');
      expect(errors).toEqual([]);
      socket.next('x'); // the queue holds more than its bound already
      expect(errors.map((e) => e.code)).toEqual(['RXJS_WS_OUTBOUND_FULL']);
      fake._socket.drain();
      expect(sent()).toEqual(['too big for the bound']);
    });
  });

  describe('pauseReading', () => {
    it('stops reading from the peer while frames queue, and reads again once drained', () => {
      const { socket, fake } = congested({ pauseReading: true });
      socket.next('x');
      expect(fake.isPaused).toBe(true);
      fake._socket.drain();
      expect(fake.isPaused).toBe(false);
    });

    it('is paused before writable$ says false, and a subscriber that writes on true leaves it paused while congested', () => {
      const { socket, fake } = congested({ pauseReading: true });
      const seen: [boolean, boolean][] = [];
      socket.writable$.subscribe((w) => {
        seen.push([w, fake.isPaused]);
        // The recipe of docs/flow-control.md: write the next chunk as soon as it is writable; this congests it again.
        if (w) {
          fake._socket.writableNeedDrain = true;
          socket.next('next chunk');
        }
      });
      socket.next('first');
      fake._socket.drain();
      expect(fake.isPaused).toBe(true);
      expect(socket.writable$).toBeDefined();
      expect(seen[1]).toEqual([false, true]);
      expect(seen[seen.length - 1]).toEqual([false, true]);
    });
  });

  it("policy 'drop-oldest' keeps the newest frames and reports each drop", () => {
    const { socket, fake, errors, sent } = congested({ policy: 'drop-oldest', maxMessages: 2 });
    for (const f of ['1', '2', '3', '4']) socket.next(f);
    expect(errors.map((e) => (e as FrameDroppedError).count)).toEqual([1, 1]);
    expect(errors[0]).toBeInstanceOf(FrameDroppedError);
    expect(socket.stats).toMatchObject({ sent: 4, dropped: 2 });
    fake._socket.drain();
    expect(sent()).toEqual(['3', '4']);
  });

  it("policy 'drop-oldest' makes room for a frame bigger than the whole queue by dropping everything older", () => {
    const { socket, fake, errors, sent } = congested({ policy: 'drop-oldest', maxBytes: 4 });
    socket.next('ab');
    socket.next('too big');
    expect(errors).toEqual([new FrameDroppedError('drop-oldest', 1)]);
    expect(socket.bufferedAmount).toBe(7);
    fake._socket.drain();
    expect(sent()).toEqual(['too big']);
  });

  it("policy 'drop-newest' keeps the oldest frames", () => {
    const { socket, fake, errors, sent } = congested({ policy: 'drop-newest', maxMessages: 2 });
    for (const f of ['1', '2', '3', '4']) socket.next(f);
    expect(errors).toEqual([new FrameDroppedError('drop-newest', 1), new FrameDroppedError('drop-newest', 1)]);
    expect(socket.stats).toMatchObject({ sent: 2, dropped: 2 }); // a dropped frame is not counted as sent
    fake._socket.drain();
    expect(sent()).toEqual(['1', '2']);
  });

  it("policy 'close' closes with 1013 when the queue overflows", () => {
    const { socket, fake, errors } = congested({ policy: 'close', maxMessages: 2 });
    for (const f of ['1', '2', '3']) socket.next(f);
    expect(fake.closeSent).toEqual({ code: 1013, reason: 'Outbound queue full' });
    expect(errors[0]).toEqual(new FrameDroppedError('close', 3));
    expect(socket.state).toBe('closing');
    expect(() => socket.send('4')).toThrow(/closing/);
  });

  it("policy 'close' tells the server's memory budget at once that the queue it discarded is freed", () => {
    const budget = new MemoryBudget(1 << 30, () => {});
    const fake = new FakeWebSocket();
    const made = fakeSocket({ outbound: { policy: 'close', maxMessages: 2 }, budget }, fake);
    fake._socket.writableNeedDrain = true;
    made.socket.next('1');
    made.socket.next('22');
    expect(budget.used).toBeGreaterThan(0); // told when the queue began
    made.socket.next('333');
    expect(made.socket.state).toBe('closing');
    expect(budget.used).toBe(0);
  });

  it('close() sends queued frames before the close frame', () => {
    const { socket, fake, sent } = congested({});
    socket.next('last');
    socket.close(1000);
    expect(sent()).toEqual(['last']);
    expect(fake.closeSent!.code).toBe(1000);
  });

  it('reports frames still queued when the connection dies', () => {
    const { socket, fake, errors } = congested({});
    socket.next('a');
    socket.next('b');
    const closes: CloseInfo[] = [];
    socket.close$.subscribe((c) => closes.push(c));
    fake.drop();
    expect(errors).toEqual([new FrameDroppedError('closed', 2)]);
    expect(socket.stats.dropped).toBe(2);
    expect(fake._socket.listenerCount('drain')).toBe(0);
  });

  it('queues frames sent while the client is still connecting, and sends them first on open', () => {
    const fake = new FakeWebSocket(WebSocket.CONNECTING);
    const { socket } = fakeSocket(undefined, fake);
    socket.next('early 1');
    socket.next('early 2');
    expect(fake.sent).toEqual([]);
    expect(socket.state).toBe('connecting');
    fake.open();
    socket.next('after');
    expect(fake.sent.map((f) => f.data)).toEqual(['early 1', 'early 2', 'after']);
  });

  it('does not cork when batchWrites is false', () => {
    const { socket, fake } = fakeSocket({ outbound: { batchWrites: false } });
    socket.next('a');
    expect(fake._socket.corked).toBe(0);
    expect(fake.sent).toHaveLength(1);
  });

  it('validates the options when the socket is made', () => {
    expect(() => fakeSocket({ outbound: { maxBytes: 0 } })).toThrow(InvalidArgumentError);
    expect(() => fakeSocket({ outbound: { maxMessages: 1.5 } })).toThrow('Expected `outbound.maxMessages` to be an integer >= 1, got `1.5` (number)');
    expect(() => fakeSocket({ outbound: { batchWrites: 'yes' as never } })).toThrow('Expected `outbound.batchWrites` to be a boolean, got `"yes"` (string)');
  });

  it('marble: a producer faster than the peer, drop-oldest, drains at frame 6', () => {
    new TestScheduler((a, b) => expect(a).toEqual(b)).run(({ cold, expectObservable }) => {
      const { socket, fake, errors } = congested({ policy: 'drop-oldest', maxMessages: 2 });
      cold('a-b-c-d|').subscribe((v) => socket.next(v));
      cold('------x').subscribe(() => fake._socket.drain());
      expectObservable(socket.writable$).toBe('f-----t', { f: false, t: true });
      expectObservable(socket.errors$.pipe(map((e) => (e as FrameDroppedError).why))).toBe('----o-o', { o: 'drop-oldest' });
      cold('-------x').subscribe(() => {
        expect(fake.sent.map((f) => f.data)).toEqual(['c', 'd']);
        expect(errors).toHaveLength(2);
      });
    });
  });
});

describe('outbound policies in virtual time (rxjs-ws/testing)', () => {
  const run = (body: (scheduler: TestScheduler) => void) => {
    const scheduler = new TestScheduler((a, b) => expect(a).toEqual(b));
    scheduler.run(() => body(scheduler));
  };

  it("'error' refuses the frame that does not fit, keeps reading, and sends the rest at 'drain'", () => {
    run((scheduler) => {
      const t = testSocket(scheduler, { outbound: { policy: 'error', maxMessages: 2 } });
      t.inbound('s-----r', { s: { stall: true }, r: { drain: true } });
      const offered = cold(scheduler, '-abc');
      offered.subscribe((v) => t.socket.next(v));
      scheduler.schedule(() => expect(t.ws.isPaused).toBe(false), 4);
      scheduler.expectObservable(t.socket.errors$.pipe(map((e) => e.code), takeUntil(t.socket.close$))).toBe('---e------|', { e: 'RXJS_WS_OUTBOUND_FULL' });
      t.expectSent('------(ab)(t|)', { a: 'a', b: 'b', t: { terminate: true } });
      scheduler.schedule(() => t.socket.terminate(), 10);
    });
  });

  it("'drop-oldest' keeps the newest frames while the peer stalls", () => {
    run((scheduler) => {
      const t = testSocket(scheduler, { outbound: { policy: 'drop-oldest', maxMessages: 2 } });
      t.inbound('s-----r', { s: { stall: true }, r: { drain: true } });
      cold(scheduler, '-abcd').subscribe((v) => t.socket.next(v));
      scheduler.expectObservable(t.socket.errors$.pipe(map((e) => (e as FrameDroppedError).why), takeUntil(t.socket.close$))).toBe('---oo-----|', { o: 'drop-oldest' });
      t.expectSent('------(cd)(t|)', { c: 'c', d: 'd', t: { terminate: true } });
      scheduler.schedule(() => t.socket.terminate(), 10);
    });
  });
});

function cold(scheduler: TestScheduler, marbles: string) {
  return scheduler.createColdObservable<string>(marbles);
}

describe('frames queued when the peer has started closing', () => {
  it('are reported as dropped, not handed to ws (which would drop them without a word)', () => {
    const { socket, fake, errors } = congested({});
    socket.next('a');
    socket.next('b');
    fake.readyState = WebSocket.CLOSING; // the peer's close frame arrived
    socket.close(1000);
    expect(fake.sent).toEqual([]);
    fake.receiveClose(1000);
    expect(errors).toEqual([new FrameDroppedError('closed', 2)]);
    expect(socket.stats).toMatchObject({ sent: 2, dropped: 2 });
  });
});
