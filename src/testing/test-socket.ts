import { ReplaySubject, type Observable } from 'rxjs';
import type { TestScheduler } from 'rxjs/testing';
import type { WebSocket } from 'ws';
import { describe, InvalidArgumentError } from '../errors';
import { RxSocket, type RxSocketOptions } from '../socket/socket';
import { expectBoolean, expectInteger, expectObject } from '../validation';
import { FakeWebSocket, type WireEvent } from './fake-ws';

/**
 * What the peer does, as a value in `inbound()` marbles: a text frame
 * (`string`), a binary frame (`Uint8Array`/`Buffer`), a pong, its close frame,
 * a dropped connection, or TCP backpressure (`stall`: it stops reading our
 * bytes; `drain`: it caught up).
 */
export type PeerEvent =
  | string
  | Uint8Array
  | { readonly ping: true }
  | { readonly pong: true }
  | { readonly close: number; readonly reason?: string }
  | { readonly drop: true }
  | { readonly stall: true }
  | { readonly drain: true };

/** Options of {@link testSocket}: the socket's own options, and how the fake peer behaves. */
export interface TestSocketOptions<A = undefined> extends RxSocketOptions<A> {
  /** The peer answers our close frame in the same frame of time, as browsers and `ws` do; `false` leaves the socket closing until `inbound()` says. @default true */
  readonly answerClose?: boolean;
  /** The peer answers each ping with a pong in the same frame of time. @default false (script pongs in `inbound()`) */
  readonly autoPong?: boolean;
  /**
   * Virtual time (ms) at which the scheduler stops: a test whose socket never
   * closes (or with any endless timer) ends there instead of looping forever.
   * @default 3600000 (one virtual hour)
   */
  readonly horizon?: number;
}

/** A real `RxSocket` over a fake connection, and the marble helpers to drive and observe it. */
export interface TestSocket<A = undefined> {
  /** The socket under test: give it to your handler. */
  readonly socket: RxSocket<A>;
  /** The fake `ws` underneath, for checks the marbles do not cover. */
  readonly ws: FakeWebSocket;
  /** Everything this side put on the wire, at the virtual time it did; completes when the connection ends. Replays to late subscribers. */
  readonly sent$: Observable<WireEvent>;
  /**
   * Schedules what the peer does, as hot marbles (`^` is now). Values are
   * {@link PeerEvent}s; a marble without a value is a text frame of that
   * character. `|` is the peer's close frame with 1000, `#` a dropped connection.
   */
  inbound(marbles: string, values?: Readonly<Record<string, PeerEvent>>): void;
  /**
   * Asserts what was sent and when: `expectObservable(sent$).toBe(...)`. Values
   * are {@link WireEvent}s: `'text'`, `Buffer.from(...)`, `{ ping: true }`,
   * `{ close: 1000 }` (`reason` when not empty), `{ terminate: true }`; `|` is the end of the connection.
   */
  expectSent(marbles: string, values?: Readonly<Record<string, WireEvent>>): void;
}

/**
 * A real `RxSocket` over a fake connection in virtual time, for marble tests
 * of your handlers: no network, no real timers. Call it inside
 * `testScheduler.run()`; the heartbeat gets the `TestScheduler` unless you
 * give it another.
 *
 * @example
 * testScheduler.run(() => {
 *   const t = testSocket(testScheduler);
 *   t.socket.messages$.subscribe(t.socket); // the handler under test: an echo
 *   t.inbound('-a-b-|');
 *   t.expectSent('-a-b-(c|)', { a: 'a', b: 'b', c: { close: 1000 } });
 * });
 */
export function testSocket<A = undefined>(scheduler: TestScheduler, options: TestSocketOptions<A> = {}): TestSocket<A> {
  if (typeof (scheduler as Partial<TestScheduler> | null)?.createHotObservable !== 'function') {
    throw new InvalidArgumentError(`Expected \`scheduler\` to be a TestScheduler, got ${describe(scheduler)}`);
  }
  const { answerClose = true, autoPong = false, horizon = 3_600_000, ...socketOptions } = expectObject('options', options) as TestSocketOptions<A>;
  expectBoolean('options.answerClose', answerClose);
  expectBoolean('options.autoPong', autoPong);
  if (horizon !== Infinity) expectInteger('options.horizon', horizon, 0);
  scheduler.maxFrames = Math.min(scheduler.maxFrames, horizon);

  const ws = new FakeWebSocket();
  const sent = new ReplaySubject<WireEvent>();
  ws.onWire = (event) => {
    sent.next(event);
    if (typeof event !== 'object' || Buffer.isBuffer(event)) return;
    // The peer's answers come in the same frame of time, but after this call returns, as over a network.
    if (answerClose && 'close' in event) scheduler.schedule(() => ws.receiveClose(event.close, event.reason ?? ''));
    else if (autoPong && 'ping' in event) scheduler.schedule(() => ws.receivePong());
  };
  ws.once('close', () => sent.complete());
  const hb = socketOptions.heartbeat;
  const heartbeat = hb ? { ...hb, scheduler: hb.scheduler ?? scheduler } : hb;
  const socket = new RxSocket<A>(ws as unknown as WebSocket, { ...socketOptions, heartbeat });

  return {
    socket,
    ws,
    sent$: sent.asObservable(),
    inbound(marbles, values) {
      for (const [key, value] of Object.entries(values ?? {})) expectPeerEvent(key, value);
      scheduler.createHotObservable<PeerEvent>(marbles, values).subscribe({
        next: (event) => deliver(ws, event),
        error: () => ws.drop(),
        complete: () => ws.receiveClose(1000),
      });
    },
    expectSent(marbles, values) {
      scheduler.expectObservable(sent).toBe(marbles, values);
    },
  };
}

function deliver(ws: FakeWebSocket, event: PeerEvent | undefined): void {
  if (event === undefined) throw new InvalidArgumentError('A marble given to inbound() has no value in `values`');
  if (typeof event === 'string') ws.receive(event);
  else if (event instanceof Uint8Array) ws.receive(Buffer.isBuffer(event) ? event : Buffer.from(event.buffer, event.byteOffset, event.byteLength));
  else if ('ping' in event) ws.receivePing();
  else if ('pong' in event) ws.receivePong();
  else if ('close' in event) ws.receiveClose(event.close, event.reason ?? '');
  else if ('drop' in event) ws.drop();
  else if ('stall' in event) ws._socket.writableNeedDrain = true;
  else ws._socket.drain();
}

const KEYS = ['ping', 'pong', 'close', 'drop', 'stall', 'drain'];

function expectPeerEvent(key: string, value: unknown): void {
  if (typeof value === 'string' || value instanceof Uint8Array) return;
  const known = value !== null && typeof value === 'object' && Object.keys(value).some((k) => KEYS.includes(k));
  const close = (value as { close?: unknown } | null)?.close;
  if (!known || (close !== undefined && typeof close !== 'number')) {
    throw new InvalidArgumentError(
      `Expected \`values.${key}\` to be a frame (string or Uint8Array) or one of { ping }, { pong }, { close, reason? }, { drop }, { stall }, { drain }, got ${describe(value)}`,
    );
  }
}
