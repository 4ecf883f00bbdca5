/**
 * Review: defects the model-based spec (spec/socket/model.spec.ts) found in
 * RxSocket, each pinned by the smallest scenario that showed it.
 */
import { TestScheduler } from 'rxjs/testing';
import { SocketClosedError, type CloseInfo, type RxjsWsError } from '../../src';
import { fakeSocket } from '../support/fake';

/** The 101st ping of one second: over the control budget (`Defaults.controlFramesPerSecond`). */
const FLOOD = 101;

describe('review: what the model found', () => {
  // Without a scheduler the control budget runs on Date.now(): it stands still here, so that 101 control frames are
  // always a flood, however slow the machine.
  beforeEach(() => {
    jest.spyOn(Date, 'now').mockReturnValue(Date.now());
  });
  afterEach(() => {
    jest.restoreAllMocks();
  });

  describe('a peer cut off for a ping flood is cut off before anyone is told', () => {
    it('an errors$ subscriber told of the queue the cut-off let go of finds the socket closing: a frame it sends is refused', () => {
      const { socket, fake } = fakeSocket();
      const errors: RxjsWsError[] = [];
      const states: string[] = [];
      let thrown: unknown = null;
      socket.errors$.subscribe((e) => {
        errors.push(e);
        if (errors.length > 1) return;
        states.push(socket.state);
        try {
          socket.send('reply');
        } catch (err) {
          thrown = err;
        }
      });
      fake._socket.writableNeedDrain = true; // the peer reads slowly: our frame queues
      socket.next('queued');
      for (let i = 0; i < FLOOD; i++) fake.receivePing();
      expect(fake.closeSent).toEqual({ code: 1008, reason: 'Too many pings' });
      expect(errors[0]).toMatchObject({ why: 'closed', count: 1 });
      // The socket has decided to close (and logged it) before it reports: like any policy close, it is closing
      // by then, and refuses what it is offered instead of queueing it on a connection it has let go of.
      expect(states).toEqual(['closing']);
      expect(thrown).toBeInstanceOf(SocketClosedError);
      expect(socket.bufferedAmount).toBe(0);
    });

    it('a subscriber handed a frame the rate limit held finds the socket closing: a frame it sends is refused, not written before the close frame', () => {
      const scheduler = new TestScheduler(() => undefined);
      const closes: CloseInfo[] = [];
      const states: string[] = [];
      let thrown: unknown = null;
      scheduler.run(() => {
        const { socket, fake } = fakeSocket({ rateLimit: { messages: 1, policy: 'pause', scheduler } });
        socket.close$.subscribe((info) => closes.push(info));
        socket.messages$.subscribe((frame) => {
          if (frame !== 'b') return;
          states.push(socket.state);
          try {
            socket.send('reply to b');
          } catch (err) {
            thrown = err;
          }
        });
        fake.receive('a');
        fake.receive('b'); // over the budget: held, and the socket stops reading
        for (let i = 0; i < FLOOD; i++) fake.receivePing();
        fake.arrived(); // the rest of the read is parsed although the socket is paused, as ws does
        expect(fake.closeSent).toEqual({ code: 1008, reason: 'Too many pings' });
        expect(fake.sent.map((f) => f.data)).toEqual([]);
        scheduler.schedule(() => fake.drop(), 2000);
      });
      // As on a rate-limit violation ("closing first: whoever is told of the frames read before sees the socket closing").
      expect(states).toEqual(['closing']);
      expect(thrown).toBeInstanceOf(SocketClosedError);
      expect(closes).toMatchObject([{ code: 1008, reason: 'Too many pings', wasClean: false }]);
    });
  });

  it("a socket the 'close' policy closed (1013) and a pong flood then cuts off logs its end once", () => {
    const lines: string[] = [];
    const { socket, fake } = fakeSocket({ outbound: { policy: 'close', maxMessages: 1 }, log: (line) => lines.push(line) });
    fake._socket.writableNeedDrain = true;
    socket.next('one'); // queued
    socket.next('two'); // over the queue's bound: the 'close' policy closes with 1013
    expect(fake.closeSent).toEqual({ code: 1013, reason: 'Outbound queue full' });
    for (let i = 0; i < FLOOD; i++) fake.receivePong(); // the peer floods while we wait for its close frame
    fake.drop();
    // "One log line for how this socket ended, said once (by the first that knows why)"; the docs: one line
    // for each abnormal close.
    expect(lines).toEqual(['socket from unknown closed 1013 (outbound queue full)']);
  });
});
