import { interval, map, take, takeUntil, type Observable } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { WebSocket } from 'ws';
import {
  CloseCode,
  InvalidArgumentError,
  InvalidFrameError,
  RxSocket,
  SocketClosedError,
  type CloseInfo,
  type Inbound,
  type RxjsWsError,
} from '../../src';
import { FakeWebSocket } from '../../src/testing/fake-ws';
import { fakeSocket, listenerCounts } from '../support/fake';

const testScheduler = () => new TestScheduler((actual, expected) => expect(actual).toEqual(expected));

function collect<T>(source: { subscribe(o: object): unknown }) {
  const values: T[] = [];
  const result: { error?: unknown; done: boolean } = { done: false };
  source.subscribe({
    next: (v: T) => values.push(v),
    error: (e: unknown) => ((result.error = e), (result.done = true)),
    complete: () => (result.done = true),
  });
  return { values, result };
}

describe('RxSocket inbound', () => {
  it('keeps the kind of every frame: text as string, binary as Buffer', () => {
    const { socket, fake } = fakeSocket();
    const got = collect<Inbound>(socket.messages$);
    fake.receive('héllo');
    fake.receive(Buffer.from([0, 1, 2]));
    expect(got.values).toEqual(['héllo', Buffer.from([0, 1, 2])]);
    expect(typeof got.values[0]).toBe('string');
    expect(Buffer.isBuffer(got.values[1])).toBe(true);
  });

  it('shares frames between subscribers', () => {
    const { socket, fake } = fakeSocket();
    const a = collect<Inbound>(socket.messages$);
    const b = collect<Inbound>(socket.messages$);
    fake.receive('x');
    expect(a.values).toEqual(['x']);
    expect(b.values).toEqual(['x']);
  });

  it('holds frames that arrive before the first subscriber, and pauses past inboundHold', () => {
    const { socket, fake } = fakeSocket({ inboundHold: 3 });
    fake.receive('1');
    fake.receive('2');
    expect(fake.isPaused).toBe(false);
    fake.receive('3');
    expect(fake.isPaused).toBe(true);
    const got = collect<Inbound>(socket.messages$);
    expect(got.values).toEqual(['1', '2', '3']);
    expect(fake.isPaused).toBe(false);
    fake.receive('4');
    expect(got.values).toEqual(['1', '2', '3', '4']);
  });

  it('keeps held frames a subscriber did not take for the next one', () => {
    const { socket, fake } = fakeSocket();
    fake.receive('a');
    fake.receive('b');
    const first: Inbound[] = [];
    socket.messages$.pipe(take(1)).subscribe((m) => first.push(m));
    // The first subscriber stops after one frame, even mid-flush.
    const second = collect<Inbound>(socket.messages$);
    expect(first).toEqual(['a']);
    expect(second.values).toEqual(['b']);
  });

  it('delivers held frames to a subscriber that comes after the close, then completes', () => {
    const { socket, fake } = fakeSocket();
    fake.receive('late');
    fake.receiveClose(1000);
    const got = collect<Inbound>(socket.messages$);
    expect(got.values).toEqual(['late']);
    expect(got.result).toEqual({ done: true });
  });

  it('completes messages$ on a normal close (1000, 1001, 1005)', () => {
    for (const code of [1000, 1001, 1005]) {
      const { socket, fake } = fakeSocket();
      const got = collect<Inbound>(socket.messages$);
      fake.receiveClose(code);
      expect(got.result).toEqual({ done: true });
    }
  });

  it('completes messages$ on any close, abnormal or with an application code: close$ says how it ended', () => {
    const cases: [(fake: FakeWebSocket) => void, CloseInfo][] = [
      [(fake) => fake.drop(), { code: 1006, reason: '', wasClean: false }],
      [(fake) => fake.receiveClose(4001, 'kicked'), { code: 4001, reason: 'kicked', wasClean: true }],
      [(fake) => fake.receiveClose(1011), { code: 1011, reason: '', wasClean: true }],
    ];
    for (const [end, info] of cases) {
      const { socket, fake } = fakeSocket();
      const got = collect<Inbound>(socket.messages$);
      const closes = collect<CloseInfo>(socket.close$);
      fake.receive('before');
      end(fake);
      expect(got.values).toEqual(['before']);
      expect(got.result).toEqual({ done: true });
      expect(closes.values).toEqual([info]);
    }
  });

  it('completes messages$ of the side that closed with an application code (a subscriber without an error callback survives)', () => {
    const { socket, fake } = fakeSocket();
    const got = collect<Inbound>(socket.messages$);
    socket.close(4001, 'bye');
    fake.receiveClose(4001, 'bye');
    expect(got.result).toEqual({ done: true });
    expect(socket.closeInfo).toEqual({ code: 4001, reason: 'bye', wasClean: true });
  });

  it('reports the code it failed the connection with after a protocol error, with the ws error', () => {
    const { socket, fake } = fakeSocket();
    const got = collect<Inbound>(socket.messages$);
    const closes = collect<CloseInfo>(socket.close$);
    fake.fail('WS_ERR_INVALID_UTF8', 'Invalid UTF-8 sequence');
    expect(closes.values).toEqual([
      { code: CloseCode.INVALID_PAYLOAD, reason: 'Invalid UTF-8 sequence', wasClean: false, error: expect.objectContaining({ code: 'WS_ERR_INVALID_UTF8' }) },
    ]);
    expect(got.result).toEqual({ done: true });
  });
});

describe('RxSocket close$', () => {
  it('emits once, completes, and replays to late subscribers', () => {
    const { socket, fake } = fakeSocket();
    const early = collect<CloseInfo>(socket.close$);
    fake.receiveClose(1000, 'bye');
    fake.receiveClose(1001, 'again');
    const late = collect<CloseInfo>(socket.close$);
    expect(early.values).toEqual([{ code: 1000, reason: 'bye', wasClean: true }]);
    expect(early.result.done).toBe(true);
    expect(late.values).toEqual(early.values);
    expect(late.result.done).toBe(true);
    expect(socket.state).toBe('closed');
    expect(socket.closeInfo).toEqual({ code: 1000, reason: 'bye', wasClean: true });
  });

  it('reports 1006 after terminate()', () => {
    const { socket, fake } = fakeSocket();
    const closes = collect<CloseInfo>(socket.close$);
    socket.terminate();
    socket.terminate();
    expect(fake.terminated).toBe(true);
    expect(closes.values).toEqual([{ code: 1006, reason: '', wasClean: false }]);
  });

  it('wraps a socket that is already closed', () => {
    const fake = new FakeWebSocket(WebSocket.CLOSED);
    const { socket } = fakeSocket(undefined, fake);
    expect(socket.state).toBe('closed');
    expect(collect<CloseInfo>(socket.close$).values).toEqual([{ code: 1006, reason: '', wasClean: false }]);
    expect(listenerCounts(fake)).toEqual([0, 0, 0, 0, 0, 0]);
  });
});

describe('RxSocket outbound sink', () => {
  it('sends strings as text and binary data as binary', () => {
    const { socket, fake } = fakeSocket();
    socket.next('hi');
    socket.next(Buffer.from([1]));
    socket.next(new Uint8Array([2, 3]));
    socket.next(new Uint16Array([0x0102]).buffer);
    expect(fake.sent.map((f) => f.binary)).toEqual([false, true, true, true]);
    expect(fake.sent[2]!.data).toEqual(Buffer.from([2, 3]));
    expect(socket.stats.sent).toBe(4);
  });

  it('is an echo when messages$ is piped into it', () => {
    const { socket, fake } = fakeSocket();
    socket.messages$.subscribe(socket);
    fake.receive('text');
    fake.receive(Buffer.from('bin'));
    expect(fake.sent).toEqual([
      { data: 'text', binary: false },
      { data: Buffer.from('bin'), binary: true },
    ]);
  });

  it('closes with 1000 on complete() and 1011 on error(), without leaking the error', () => {
    const a = fakeSocket();
    a.socket.complete();
    expect(a.fake.closeSent).toEqual({ code: 1000, reason: '' });
    const b = fakeSocket();
    b.socket.error(new Error('secret database password'));
    expect(b.fake.closeSent).toEqual({ code: 1011, reason: '' });
    expect(b.socket.state).toBe('closing');
  });

  it('refuses frames once closing: errors$ for next(), a throw for send(), nothing sent', () => {
    const { socket, fake } = fakeSocket();
    const errors = collect<RxjsWsError>(socket.errors$);
    socket.close(1000, 'done');
    expect(() => socket.next('late')).not.toThrow();
    expect(() => socket.send('late')).toThrow(SocketClosedError);
    expect(errors.values).toHaveLength(1);
    expect(errors.values[0]).toBeInstanceOf(SocketClosedError);
    expect(errors.values[0]!.code).toBe('RXJS_WS_SOCKET_CLOSED');
    expect(fake.sent).toEqual([]);
    expect(socket.stats.refused).toBe(2);
    fake.receiveClose(1000);
    expect(() => socket.send('after')).toThrow(/socket is closed \(code 1000/);
  });

  it('refuses frames while the peer is closing (ws would drop them silently)', () => {
    const { socket, fake } = fakeSocket();
    fake.readyState = WebSocket.CLOSING;
    expect(() => socket.send('x')).toThrow(SocketClosedError);
  });

  it('refuses values that are not frames with InvalidFrameError', () => {
    const { socket, fake } = fakeSocket();
    const errors = collect<RxjsWsError>(socket.errors$);
    socket.next(42 as unknown as string);
    socket.next({ a: 1 } as unknown as string);
    expect(() => socket.send(null as unknown as string)).toThrow(InvalidFrameError);
    expect(errors.values.map((e) => e.message)).toEqual([
      'Expected a string or binary data (Buffer, typed array, ArrayBuffer), got number',
      'Expected a string or binary data (Buffer, typed array, ArrayBuffer), got Object',
    ]);
    expect(fake.sent).toEqual([]);
  });

  it('corks the TCP socket for the rest of the tick so a burst leaves in one write', async () => {
    const { socket, fake } = fakeSocket();
    socket.next('a');
    socket.next('b');
    expect(fake._socket.corked).toBe(1);
    await new Promise((resolve) => process.nextTick(resolve));
    expect(fake._socket.corked).toBe(0);
  });
});

describe('RxSocket close()', () => {
  it('is idempotent', () => {
    const { socket, fake } = fakeSocket();
    socket.close(4000, 'first');
    socket.close(1000, 'second');
    expect(fake.closeSent).toEqual({ code: 4000, reason: 'first' });
  });

  it.each([999, 1004, 1005, 1006, 1015, 2000, 2999, 5000, 1000.5, NaN])('rejects close code %p', (code) => {
    const { socket, fake } = fakeSocket();
    expect(() => socket.close(code)).toThrow(InvalidArgumentError);
    expect(() => socket.close(code)).toThrow(/Expected `code` to be a close code an endpoint may send/);
    expect(fake.closeSent).toBeNull();
    expect(socket.state).toBe('open');
  });

  it('rejects a reason over 123 bytes of UTF-8', () => {
    const { socket } = fakeSocket();
    expect(() => socket.close(1000, 'é'.repeat(62))).toThrow('Expected `reason` to be at most 123 bytes of UTF-8, got 124 bytes');
    expect(() => socket.close(1000, 'é'.repeat(61))).not.toThrow();
  });

  it('accepts every sendable code', () => {
    for (const code of [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4999]) {
      const { socket, fake } = fakeSocket();
      socket.close(code);
      expect(fake.closeSent!.code).toBe(code);
    }
  });
});

describe('RxSocket teardown', () => {
  it('removes every listener it added and ends every stream when the socket closes', () => {
    const fake = new FakeWebSocket();
    const before = listenerCounts(fake);
    const { socket } = fakeSocket(undefined, fake);
    expect(listenerCounts(fake)).not.toEqual(before);
    let live = 0;
    const track = (o: { subscribe(x: object): { closed: boolean } }) => {
      live++;
      o.subscribe({ error: () => live--, complete: () => live-- });
    };
    track(socket.messages$);
    track(socket.messages$);
    track(socket.close$);
    track(socket.writable$);
    const errors = socket.errors$.subscribe();
    expect(live).toBe(4);
    fake.receiveClose(1000);
    expect(live).toBe(0);
    expect(listenerCounts(fake)).toEqual(before);
    expect(fake._socket.listenerCount('drain')).toBe(0);
    // errors$ stays open after the close: frames offered to a closed socket are reported there.
    expect(errors.closed).toBe(false);
    errors.unsubscribe();
  });

  it('marble: a producer piped with takeUntil(close$) is unsubscribed at the close', () => {
    testScheduler().run(({ cold, hot, expectObservable, expectSubscriptions }) => {
      const { socket, fake } = fakeSocket();
      const peer = hot('   ----a---b---c--|').pipe(map((m) => fake.receive(m)));
      const closeAt = cold('-----------x').pipe(map(() => fake.receiveClose(1000, 'bye')));
      const ticks = cold(' --t--t--t--t--t--t');
      const tickSubs = '   ^----------!';
      peer.subscribe();
      closeAt.subscribe();
      ticks.pipe(takeUntil(socket.close$)).subscribe(socket);
      expectObservable(socket.messages$).toBe('----a---b--|');
      expectObservable(socket.close$).toBe('-----------(c|)', { c: { code: 1000, reason: 'bye', wasClean: true } });
      expectSubscriptions(ticks.subscriptions).toBe(tickSubs);
    });
  });

  it('marble: an abnormal close completes messages$ at that frame, and close$ says 1006', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const { socket, fake } = fakeSocket();
      cold('-a-b-x').subscribe((v) => (v === 'x' ? fake.drop() : fake.receive(v)));
      expectObservable(socket.messages$).toBe('-a-b-|');
      expectObservable(socket.close$).toBe('-----(c|)', { c: { code: 1006, reason: '', wasClean: false } });
    });
  });

  it('leaves nothing behind after 1,000 open/close cycles', () => {
    let live = 0;
    for (let i = 0; i < 1000; i++) {
      const fake = new FakeWebSocket();
      const socket = new RxSocket(fake as unknown as WebSocket);
      for (const stream of [socket.messages$, socket.close$, socket.writable$] as Observable<unknown>[]) {
        live++;
        stream.subscribe({ error: () => live--, complete: () => live-- });
      }
      live++;
      interval(1000)
        .pipe(takeUntil(socket.close$))
        .subscribe({ complete: () => live-- });
      socket.messages$.subscribe(socket);
      fake.receive('x');
      if (i % 2) fake.receiveClose(1000);
      else socket.terminate();
      expect(listenerCounts(fake)).toEqual([0, 0, 0, 0, 0, 0]);
    }
    expect(live).toBe(0);
  });
});
