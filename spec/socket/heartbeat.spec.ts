import { TestScheduler } from 'rxjs/testing';
import { WebSocket, WebSocketServer } from 'ws';
import { HeartbeatTimeoutError, RxSocket, type CloseInfo, type HeartbeatOptions } from '../../src';
import { HeartbeatState } from '../../src/operators/heartbeat';
import { HeartbeatMonitor, resolveHeartbeat, SocketHeartbeat } from '../../src/socket/heartbeat';
import { FakeWebSocket } from '../../src/testing/fake-ws';
import { fakeSocket, listenerCounts } from '../support/fake';
import { closed, delay, listen, open } from '../support/net';

/** Runs `body` in virtual time; `flush(ms)` advances the clock by `ms` and runs what fell due. */
function virtual(body: (helpers: { scheduler: TestScheduler; flush: (ms: number) => void }) => void) {
  const scheduler = new TestScheduler((a, b) => expect(a).toEqual(b));
  let clock = 0;
  scheduler.run(() =>
    body({
      scheduler,
      flush: (ms) => {
        clock += ms;
        scheduler.maxFrames = clock;
        scheduler.flush();
      },
    }),
  );
}

const TIMED_OUT = { code: 1006, reason: 'Heartbeat timeout', wasClean: false, error: expect.any(HeartbeatTimeoutError) };

const made: RxSocket[] = [];
afterEach(() => {
  for (const socket of made.splice(0)) socket.terminate();
  expect(HeartbeatMonitor.timers).toBe(0);
});

function withBeat(options: HeartbeatOptions) {
  const { socket, fake } = fakeSocket({ heartbeat: options });
  made.push(socket);
  const closes: CloseInfo[] = [];
  socket.close$.subscribe((c) => closes.push(c));
  socket.messages$.subscribe();
  return { socket, fake, closes, error: () => closes[0]?.error };
}

describe('heartbeat option on a socket (virtual time)', () => {
  it('pings a quiet peer every interval and terminates it timeout after the first unanswered ping', () => {
    virtual(({ scheduler, flush }) => {
      const { fake, closes, error } = withBeat({ interval: 100, timeout: 50, scheduler });
      flush(99);
      expect(fake.pings).toHaveLength(0);
      flush(1);
      expect(fake.pings).toHaveLength(1);
      expect(fake.terminated).toBe(false);
      flush(49);
      expect(fake.terminated).toBe(false);
      flush(1);
      expect(fake.terminated).toBe(true);
      expect(closes).toEqual([TIMED_OUT]);
      const e = error() as HeartbeatTimeoutError;
      expect(e).toBeInstanceOf(HeartbeatTimeoutError);
      expect(e.info).toEqual({ lastPongAt: 0, missed: 1, timeout: 50 });
    });
  });

  it('a pong resets the deadline; any frame counts as life by default', () => {
    virtual(({ scheduler, flush }) => {
      const { fake, closes } = withBeat({ interval: 100, timeout: 50, scheduler });
      flush(100); // ping 1
      flush(20);
      fake.receivePong();
      flush(100); // life seen at the 125 tick (ticks of 5 ms): next ping at 225
      expect(fake.pings).toHaveLength(1);
      flush(10);
      expect(fake.pings).toHaveLength(2);
      fake.receive('a frame is life too');
      flush(80);
      expect(fake.pings).toHaveLength(2);
      expect(closes).toEqual([]);
    });
  });

  it("with life: 'pong', frames do not count: a chatty peer that never pongs is terminated", () => {
    virtual(({ scheduler, flush }) => {
      const { fake, closes } = withBeat({ interval: 100, timeout: 50, life: 'pong', scheduler });
      for (let t = 0; t < 150; t += 10) {
        fake.receive('chatter');
        flush(10);
      }
      expect(closes).toEqual([TIMED_OUT]);
    });
  });

  it('excuses a socket paused because nobody reads messages$ for 3 × (interval + timeout), then judges it', () => {
    virtual(({ scheduler, flush }) => {
      const make = () => {
        const fake = new FakeWebSocket();
        const socket = new RxSocket(fake as unknown as WebSocket, { heartbeat: { interval: 100, timeout: 50, scheduler }, inboundHold: 1 });
        made.push(socket);
        fake.receive('held');
        return { fake, socket };
      };
      const read = make();
      const unread = make();
      expect(unread.fake.isPaused).toBe(true);
      flush(400); // its pongs cannot be read: no ping, no verdict yet
      expect(unread.fake.pings).toHaveLength(0);
      read.socket.messages$.subscribe({ error: () => {} });
      expect(read.fake.isPaused).toBe(false);
      flush(300); // excused until 450; then pinged at ~550 and given up at ~600
      expect(unread.fake.pings).toHaveLength(1);
      expect(unread.socket.closeInfo).toEqual(TIMED_OUT);
      expect(read.socket.state).toBe('closed'); // read again, it was judged normally: no pong came either
    });
  });

  it('counts the peer draining a congested socket as life', () => {
    virtual(({ scheduler, flush }) => {
      const { socket, fake, closes } = withBeat({ interval: 100, timeout: 50, scheduler });
      fake._socket.writableNeedDrain = true;
      socket.next('queued');
      for (let i = 0; i < 10; i++) {
        flush(50);
        fake._socket.emit('drain'); // the peer reads a little, the queue is still congested
        fake._socket.writableNeedDrain = true;
      }
      expect(closes).toEqual([]);
      flush(200);
      expect(closes).toHaveLength(1);
    });
  });

  it('releases the shared timer, the member and the pong listener at close', () => {
    virtual(({ scheduler, flush }) => {
      const before = HeartbeatMonitor.size;
      const { fake } = withBeat({ interval: 100, timeout: 50, scheduler });
      expect(HeartbeatMonitor.size).toBe(before + 1);
      flush(100);
      expect(fake.pings).toHaveLength(1);
      expect(fake.listenerCount('pong')).toBe(1);
      fake.receiveClose(1000);
      expect(HeartbeatMonitor.size).toBe(before);
      expect(listenerCounts(fake)).toEqual([0, 0, 0, 0, 0, 0]);
      flush(1000);
      expect(fake.pings).toHaveLength(1);
    });
  });

  it('serves 10,000 sockets with one timer', () => {
    virtual(({ scheduler, flush }) => {
      const config = resolveHeartbeat({ interval: 100, timeout: 50, scheduler })!;
      const fakes = Array.from({ length: 10_000 }, () => fakeSocket({ heartbeat: config }).fake);
      const before = HeartbeatMonitor.timers;
      expect(before).toBe(1);
      flush(100);
      expect(fakes.every((f) => f.pings.length === 1)).toBe(true);
      for (const f of fakes) f.receiveClose(1000);
      expect(HeartbeatMonitor.timers).toBe(0);
    });
  });

  it("is its own heartbeat state: none of the socket's members takes the place of the state's", () => {
    const own = Object.getOwnPropertyNames(SocketHeartbeat.prototype).filter((name) => name !== 'constructor');
    const state = Object.getOwnPropertyNames(HeartbeatState.prototype).filter((name) => name !== 'constructor');
    expect(own.filter((name) => state.includes(name))).toEqual([]);
    expect(own.sort()).toEqual(['beat', 'frame', 'pong', 'stop']);
  });

  it('validates options when the socket is made', () => {
    expect(() => fakeSocket({ heartbeat: { interval: 0 } })).toThrow('Expected `heartbeat.interval` to be an integer in [1, 2147483647], got `0` (number)');
    expect(() => fakeSocket({ heartbeat: { life: 'frames' as never } })).toThrow(/Expected `heartbeat.life` to be one of "any", "pong"/);
  });
});

describe('heartbeat over real sockets', () => {
  it('terminates a client that never answers pings within interval + timeout; a normal client stays', async () => {
    const { server, url } = await listen({ heartbeat: { interval: 100, timeout: 100 } });
    const closes: { info: CloseInfo; at: number }[] = [];
    const started = Date.now();
    server.connections$.subscribe((s) => s.close$.subscribe((info) => closes.push({ info, at: Date.now() - started })));
    const silent = await open(url(), { autoPong: false });
    const normal = await open(url());
    expect((await closed(silent)).code).toBe(1006);
    while (closes.length === 0) await delay(5);
    expect(closes[0]!.info).toEqual(TIMED_OUT);
    // interval + timeout = 200 ms, checked every 10 ms; allow for a busy machine.
    expect(closes[0]!.at).toBeGreaterThanOrEqual(190);
    expect(closes[0]!.at).toBeLessThan(1000);
    await delay(300);
    expect(normal.readyState).toBe(WebSocket.OPEN);
    expect(server.sockets.size).toBe(1);
  });

  it('a client-side heartbeat notices a server that stops answering', async () => {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', autoPong: false });
    await new Promise((resolve) => wss.once('listening', resolve));
    const ws = new WebSocket(`ws://127.0.0.1:${(wss.address() as { port: number }).port}`);
    const socket = new RxSocket(ws, { heartbeat: { interval: 50, timeout: 50 } });
    let completed = false;
    socket.messages$.subscribe({ complete: () => (completed = true) });
    const info = await new Promise<CloseInfo>((resolve) => socket.close$.subscribe(resolve));
    expect(info).toEqual(TIMED_OUT);
    expect(completed).toBe(true);
    expect(HeartbeatMonitor.timers).toBe(0);
    await new Promise((resolve) => wss.close(resolve));
  });
});
