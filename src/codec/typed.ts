import { Observable, type Observer, type Subscriber } from 'rxjs';
import { CloseCode } from '../constants';
import { DecodeError, describe, EncodeError, InvalidArgumentError, type RxjsWsError } from '../errors';
import { decodeFrame, encodeValue, expectCodec, type Codec } from './codec';
import type { CloseInfo, Message, Outbound } from '../types';
import { expectObject, expectOneOf } from '../validation';

/**
 * The part of a socket {@link typed} uses: frames in and out, its errors, its
 * close. `RxSocket` has it, and so does any class with these members (a client).
 */
export interface FrameSocket extends Observer<Outbound> {
  /** Inbound frames. */
  readonly messages$: Observable<Message>;
  /** Frames refused or dropped. */
  readonly errors$: Observable<RxjsWsError>;
  /** How it closed, once. */
  readonly close$: Observable<CloseInfo>;
  /** Sends a frame; never throws. */
  next(frame: Outbound): void;
  /** Closes with 1011. */
  error(err: unknown): void;
  /** Closes with 1000. */
  complete(): void;
  /** Sends a frame, and throws what stops it. */
  send(frame: Outbound): void;
  /** Closes the socket. */
  close(code?: number, reason?: string): void;
}

/** Options of {@link typed}. */
export interface TypedOptions {
  /**
   * What to do with a frame the codec cannot decode. Either way the
   * `DecodeError` goes to `errors$`, and the other frames and subscribers
   * carry on.
   * - `'close'`: close the socket with 1007 (`INVALID_PAYLOAD`); `messages$`
   *   then ends the way the socket's does.
   * - `'skip'`: drop the frame and keep going.
   * @default 'close'
   */
  readonly invalid?: 'close' | 'skip';
}

/**
 * A socket seen through a codec: values of `T` in, values of `U` out. Made by
 * {@link typed}; the socket itself stays reachable as `socket`.
 */
export interface TypedSocket<T, U = T, S extends FrameSocket = FrameSocket> extends Observer<U> {
  /** The socket underneath, with its full type (state, stats, `writable$` …). */
  readonly socket: S;
  /**
   * Decoded inbound values. Each frame is decoded once and shared by every
   * subscriber; the socket's `messages$` is subscribed while this has
   * subscribers (so frames wait in the socket until the first one comes).
   */
  readonly messages$: Observable<T>;
  /** The socket's `errors$`, plus `DecodeError`s and the `EncodeError`s of `next()`. Ends when the socket's does; unsubscribing lets go of it. */
  readonly errors$: Observable<RxjsWsError>;
  /** The socket's `close$`. */
  readonly close$: Observable<CloseInfo>;
  /** Encodes and sends; never throws: an `EncodeError` (or the socket's refusal) goes to `errors$`. */
  readonly next: (value: U) => void;
  /** Encodes and sends, or throws `EncodeError` (and whatever the socket's `send` throws). The socket stays open. */
  readonly send: (value: U) => void;
  /** Closes the socket as its `error()` does (1011 for `RxSocket`). */
  readonly error: (err: unknown) => void;
  /** Closes the socket as its `complete()` does (1000). */
  readonly complete: () => void;
  /** `socket.close(code, reason)`. */
  readonly close: (code?: number, reason?: string) => void;
}

/**
 * A typed view of `socket`: `messages$` of `T` decoded by `codec`, and a
 * sink of `U` that encodes. A frame that does not decode never throws and
 * never ends the stream for the other subscribers (see `options.invalid`).
 * Nothing is subscribed until `messages$` or `errors$` is.
 *
 * @example
 * server.connections$.subscribe((socket) => {
 *   const chat = typed(socket, json<ChatIn, ChatOut>({ guard: isChatIn }));
 *   chat.messages$.pipe(map((m) => ({ echo: m.text }))).subscribe({ next: (m) => chat.next(m), error: () => {} });
 * });
 */
export function typed<T, U, S extends FrameSocket>(socket: S, codec: Codec<T, U>, options: TypedOptions = {}): TypedSocket<T, U, S> {
  if (socket === null || typeof socket !== 'object' || typeof (socket as Partial<FrameSocket>).send !== 'function') {
    throw new InvalidArgumentError(`Expected \`socket\` to be an RxSocket or alike, got ${describe(socket)}`);
  }
  expectCodec('codec', codec);
  const o = expectObject('options', options);
  const invalid = o.invalid === undefined ? 'close' : expectOneOf('options.invalid', o.invalid, ['close', 'skip'] as const);
  return new TypedView(socket, codec, invalid === 'close');
}

class TypedView<T, U, S extends FrameSocket> implements TypedSocket<T, U, S> {
  readonly socket: S;
  readonly messages$: Observable<T>;
  readonly errors$: Observable<RxjsWsError>;
  readonly #codec: Codec<T, U>;
  readonly #closeOnInvalid: boolean;
  // Copy-on-write, so delivering a frame allocates nothing and a subscriber may leave mid-delivery.
  #subscribers: readonly Subscriber<T>[] = [];
  #errorWatchers: readonly Subscriber<RxjsWsError>[] = [];
  #upstream: Subscriber<Message> | null = null;
  #delivering = false;

  constructor(socket: S, codec: Codec<T, U>, closeOnInvalid: boolean) {
    this.socket = socket;
    this.#codec = codec;
    this.#closeOnInvalid = closeOnInvalid;
    this.messages$ = new Observable<T>((subscriber) => this.#subscribe(subscriber));
    this.errors$ = new Observable<RxjsWsError>((subscriber) => {
      this.#errorWatchers = [...this.#errorWatchers, subscriber];
      subscriber.add(() => (this.#errorWatchers = this.#errorWatchers.filter((s) => s !== subscriber)));
      // The Subscriber itself, so that the socket's errors$ ends it when it ends, and its
      // teardown is the subscriber's: leaving lets go of the socket, ended or not.
      socket.errors$.subscribe(subscriber);
    });
  }

  get close$(): Observable<CloseInfo> {
    return this.socket.close$;
  }

  next(value: U): void {
    let frame: string | Uint8Array;
    try {
      frame = encodeValue(this.#codec, value);
    } catch (error) {
      return this.#report(error as EncodeError);
    }
    this.socket.next(frame);
  }

  send(value: U): void {
    this.socket.send(encodeValue(this.#codec, value));
  }

  error(err: unknown): void {
    this.socket.error(err);
  }

  complete(): void {
    this.socket.complete();
  }

  close(code?: number, reason?: string): void {
    this.socket.close(code, reason);
  }

  #subscribe(subscriber: Subscriber<T>): void {
    this.#subscribers = [...this.#subscribers, subscriber];
    subscriber.add(() => {
      this.#subscribers = this.#subscribers.filter((s) => s !== subscriber);
      // Mid-delivery, wait for it to return: a subscriber that comes meanwhile (one
      // handler taking over from another) goes on from the same place in the stream,
      // rather than subscribing to the socket again while it is handing out held frames.
      if (!this.#delivering) this.#releaseIfIdle();
    });
    if (this.#upstream !== null || subscriber.closed) return;
    // Through an Observable of our own, to hold the very Subscriber the socket delivers to
    // before its held frames come: closing it at once (the last subscriber took one and
    // left) keeps the rest in the socket for the next subscriber.
    new Observable<Message>((upstream) => {
      this.#upstream = upstream;
      this.socket.messages$.subscribe(upstream);
    }).subscribe({
      next: (frame) => this.#onFrame(frame),
      error: (err: unknown) => this.#end(err, true),
      complete: () => this.#end(undefined, false),
    });
  }

  #onFrame(frame: Message): void {
    const outer = this.#delivering;
    this.#delivering = true;
    try {
      this.#deliver(frame);
    } finally {
      this.#delivering = outer;
      if (!outer) this.#releaseIfIdle();
    }
  }

  #deliver(frame: Message): void {
    let value: T;
    try {
      value = decodeFrame(this.#codec, frame);
    } catch (error) {
      const decodeError = error as DecodeError;
      this.#report(decodeError);
      if (this.#closeOnInvalid) this.socket.close(CloseCode.INVALID_PAYLOAD, decodeError.message);
      return;
    }
    const list = this.#subscribers;
    for (let i = 0; i < list.length; i++) list[i]!.next(value);
  }

  /** With no subscriber left, lets go of the socket, which holds its frames again until the next one. */
  #releaseIfIdle(): void {
    if (this.#subscribers.length > 0 || this.#upstream === null) return;
    const upstream = this.#upstream;
    this.#upstream = null;
    upstream.unsubscribe();
  }

  #end(err: unknown, failed: boolean): void {
    const list = this.#subscribers;
    this.#subscribers = [];
    this.#upstream = null;
    for (const s of list) {
      if (failed) s.error(err);
      else s.complete();
    }
  }

  #report(error: RxjsWsError): void {
    const list = this.#errorWatchers;
    for (let i = 0; i < list.length; i++) list[i]!.next(error);
  }
}
