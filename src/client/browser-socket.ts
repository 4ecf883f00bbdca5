import { BehaviorSubject, Subject, type SchedulerLike, type Subscription } from 'rxjs';
import { CLOSE_ABNORMAL, CLOSE_NORMAL, type SocketState } from '../constants';
import { FrameDroppedError, HandshakeError, InvalidArgumentError, InvalidFrameError, SocketClosedError, type HeartbeatTimeoutError, type RxjsWsError } from '../errors';
import { HeartbeatState } from '../operators/heartbeat';
import { RESUME_PROTOCOL } from '../resume/link';
import { invalidFrame } from '../socket/frames';
import { endsWith } from '../socket/held';
import type { CloseInfo, Message, Outbound, SocketStats } from '../types';
import { validateClose } from '../validation';
import type { SocketLike } from './core';

/** The part of a browser's `WebSocket` a connection uses (tests pass a double). */
export interface BrowserWebSocket {
  /** 0 connecting, 1 open, 2 closing, 3 closed. */
  readonly readyState: number;
  /** Bytes handed to `send()` and not yet sent. */
  readonly bufferedAmount: number;
  /** Set to `'arraybuffer'` by the client. */
  binaryType: string;
  /** The subprotocol the server selected (`''` for none). */
  readonly protocol?: string;
  /** Called once the handshake is done. */
  onopen: ((event: unknown) => void) | null;
  /** Called with each frame: `data` is a string or an `ArrayBuffer`. */
  onmessage: ((event: { data: unknown }) => void) | null;
  /** Called once, when the connection has ended. */
  onclose: ((event: { code: number; reason: string; wasClean: boolean }) => void) | null;
  /** Called when the connection fails (a close follows). */
  onerror: ((event: unknown) => void) | null;
  /** Sends a frame: a string as text, binary data as binary. */
  send(data: string | ArrayBufferLike | ArrayBufferView): void;
  /** Starts the closing handshake. */
  close(code?: number, reason?: string): void;
}

/** The application-level heartbeat of a browser connection, validated. */
export interface AppHeartbeat {
  readonly interval: number;
  readonly timeout: number;
  /** The text frame sent as a ping; an rxjs-ws server answers it with `pong` and keeps both from the app. */
  readonly ping: string;
  /** The text frame the server answers with; it never reaches `messages$`. */
  readonly pong: string;
}

/** The browser's buffer from which the connection says it is not writable (the client then queues). */
const HIGH_WATER = 64 * 1024;
/** How often a full connection looks at the browser's buffer again (browsers give no 'drain' event), in ms. */
const POLL_MS = 25;
const OPEN = 1;

/**
 * One connection of a browser client, on the browser's own `WebSocket`, with
 * the socket's surface. It holds nothing of its own: the client listens to
 * it at once (a browser cannot stop reading) and keeps its frames in its
 * offline queue while the browser's buffer is full (`writable$` says so,
 * from `bufferedAmount`: browsers give no 'drain' event).
 */
export class BrowserConnection implements SocketLike {
  readonly #ws: BrowserWebSocket;
  readonly #scheduler: SchedulerLike;
  readonly #heartbeat: AppHeartbeat | null;
  readonly #onOpen: () => void;
  readonly #messages = new Subject<Message>();
  readonly #closed = new Subject<CloseInfo>();
  readonly #writable = new BehaviorSubject(false);
  #beat: HeartbeatState | null = null;
  #timer: Subscription | null = null;
  #timerAt = Infinity;
  #closeInfo: CloseInfo | null = null;
  #closing = false;
  #opened = false;
  #received = 0;
  #sent = 0;
  #dropped = 0;
  /** Frames sent since the browser's buffer was last seen empty: some of them may still be in it. */
  #unconfirmed = 0;
  readonly #errors = new Subject<RxjsWsError>();
  /** Inbound frames, text as `string`, binary as `Uint8Array`; completes at the close. */
  readonly messages$ = this.#messages.asObservable();
  /** `true` while the browser's buffer takes frames (the client queues them otherwise); completes at the close. */
  readonly writable$ = this.#writable.asObservable();
  /**
   * What a browser connection reports of its own: frames it handed to the
   * browser that were still in its buffer when the connection ended abnormally
   * (`FrameDroppedError('closed')`; a browser does not say how many: those sent
   * since its buffer was last seen empty; on a resumable session's connection
   * none, as the session sends them again). Bad frames are the client's to report.
   */
  readonly errors$ = this.#errors.asObservable();
  /** Emits how it closed, once; replayed. */
  readonly close$ = endsWith(this.#closed, () => this.#closeInfo);

  /** @internal The client makes it: `onOpen` is told when it opens. */
  constructor(ws: BrowserWebSocket, scheduler: SchedulerLike, heartbeat: AppHeartbeat | null, onOpen: () => void) {
    this.#ws = ws;
    this.#scheduler = scheduler;
    this.#heartbeat = heartbeat;
    this.#onOpen = onOpen;
    ws.binaryType = 'arraybuffer';
    ws.onopen = () => this.#opening();
    ws.onmessage = ({ data }) => this.#message(data);
    // Before the open a browser tells nothing of why (refused, HTTP status, TLS, offline): a HandshakeError of status 0.
    ws.onclose = ({ code, reason, wasClean }) => this.#finish({ code, reason, wasClean, ...(!this.#opened && { error: new HandshakeError(0) }) });
    ws.onerror = () => {}; // always followed by 'close', which says what there is to say
  }

  /** Where the connection is in its life. */
  get state(): SocketState {
    if (this.#closeInfo !== null) return 'closed';
    if (this.#closing || this.#ws.readyState > OPEN) return 'closing';
    return this.#opened ? 'open' : 'connecting';
  }

  /** How it closed, or `null` until it has. */
  get closeInfo(): CloseInfo | null {
    return this.#closeInfo;
  }

  /** The browser's buffer. */
  get bufferedAmount(): number {
    return this.#ws.bufferedAmount;
  }

  /** Frame counters of this connection. */
  get stats(): SocketStats {
    return { received: this.#received, sent: this.#sent, refused: 0, dropped: this.#dropped, discarded: 0 };
  }

  /** The browser's `WebSocket`, for what rxjs-ws does not cover. */
  get ws(): BrowserWebSocket {
    return this.#ws;
  }

  /** Sends a frame; the client hands it only while the connection is open. */
  next(frame: Outbound): void {
    this.send(frame);
  }

  /** Sends a frame, or throws `SocketClosedError` (closing) or `InvalidFrameError`. */
  send(frame: Outbound): void {
    if (this.#closing || this.#ws.readyState !== OPEN) throw new SocketClosedError(this.#closeInfo);
    const invalid = invalidBrowserFrame(frame);
    if (invalid !== undefined) throw invalid;
    if (this.#ws.bufferedAmount === 0) this.#unconfirmed = 0;
    this.#ws.send(frame as string | ArrayBufferLike | ArrayBufferView);
    this.#sent++;
    this.#unconfirmed++;
    this.#update();
  }

  /** Closes with 1000 and the reason "Client error" (a browser may not send 1011). */
  error(_err: unknown): void {
    this.close(CLOSE_NORMAL, 'Client error');
  }

  /** Closes with 1000. */
  complete(): void {
    this.close();
  }

  /** Closes (browsers allow 1000 and 3000–4999 only). Before the open, the browser fails the handshake. */
  close(code: number = CLOSE_NORMAL, reason = ''): void {
    validateBrowserClose(code, reason);
    if (this.#closing || this.#closeInfo !== null) return;
    this.#closing = true;
    this.#writable.next(false);
    this.#ws.close(code, reason);
  }

  /** Ends at once: `close$` reports 1006 now and nothing more is delivered (the browser closes in the background). */
  terminate(): void {
    this.#abort();
  }

  /** Ends at once, for `terminate()` or, with the error, a heartbeat timeout. */
  #abort(timeout?: HeartbeatTimeoutError): void {
    if (this.#closeInfo !== null) return;
    this.#closing = true;
    if (this.#ws.readyState <= OPEN) this.#ws.close(CLOSE_NORMAL);
    this.#finish({ code: CLOSE_ABNORMAL, reason: timeout ? 'Heartbeat timeout' : '', wasClean: false, ...(timeout && { error: timeout }) });
  }

  #opening(): void {
    if (this.#closeInfo !== null) return;
    this.#opened = true;
    if (this.#heartbeat !== null) this.#beat = new HeartbeatState(this.#scheduler.now());
    this.#onOpen();
    this.#update();
  }

  #message(data: unknown): void {
    if (this.#closeInfo !== null) return;
    this.#beat?.life(this.#scheduler.now());
    if (data === this.#heartbeat?.pong) return;
    this.#received++;
    this.#messages.next(typeof data === 'string' ? data : new Uint8Array(data as ArrayBuffer));
  }

  /** The timer: the heartbeat's step, and a look at the browser's buffer while full. */
  #tick(): void {
    this.#timer = null;
    this.#timerAt = Infinity;
    const beat = this.#beat;
    const config = this.#heartbeat!;
    if (this.#closeInfo !== null) return;
    const due = beat?.step(this.#scheduler.now(), config.interval, config.timeout);
    if (due === 'timeout') return this.#abort(beat!.error(config.timeout));
    if (due === 'ping' && this.#ws.readyState === OPEN) this.#ws.send(config.ping);
    this.#update();
  }

  /** Says whether the browser's buffer takes more, and sets the timer for the next look or heartbeat step. */
  #update(): void {
    if (this.#ws.bufferedAmount === 0) this.#unconfirmed = 0;
    const writable = this.#opened && !this.#closing && this.#ws.readyState === OPEN && this.#ws.bufferedAmount < HIGH_WATER;
    if (writable !== this.#writable.value) this.#writable.next(writable);
    if (this.#closeInfo !== null || !this.#opened) return;
    const now = this.#scheduler.now();
    const next = Math.min(writable ? Infinity : now + POLL_MS, this.#beat?.next(this.#heartbeat!.interval) ?? Infinity);
    if (next >= this.#timerAt) return;
    this.#timer?.unsubscribe();
    this.#timerAt = next;
    this.#timer = next === Infinity ? null : this.#scheduler.schedule(() => this.#tick(), Math.max(0, next - now));
  }

  #finish(info: CloseInfo): void {
    if (this.#closeInfo !== null) return;
    const ws = this.#ws;
    ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
    this.#timer?.unsubscribe();
    this.#timer = null;
    this.#beat = null;
    this.#closeInfo = info;
    this.#closing = true;
    // On a resumable session's connection nothing is lost: the session keeps every frame until acknowledged, and sends it again.
    const lost = !info.wasClean && ws.bufferedAmount > 0 && ws.protocol !== RESUME_PROTOCOL ? this.#unconfirmed : 0;
    this.#dropped += lost;
    // Settled; now tell.
    if (lost > 0) this.#errors.next(new FrameDroppedError('closed', lost));
    this.#errors.complete();
    this.#closed.next(info);
    this.#closed.complete();
    this.#messages.complete();
    if (this.#writable.value) this.#writable.next(false);
    this.#writable.complete();
  }
}

/** Throws unless a browser may close with `code` (1000, 3000–4999) and `reason` (123 bytes). */
export function validateBrowserClose(code: unknown, reason: unknown): void {
  validateClose(code, reason);
  if (code !== CLOSE_NORMAL && !((code as number) >= 3000 && (code as number) <= 4999)) {
    throw new InvalidArgumentError(`Expected \`code\` to be 1000 or 3000–4999 (all a browser may send), got ${code as number}`);
  }
}

/**
 * The error for a value a browser cannot send as a frame, or `undefined`: as
 * in Node, but shared memory (a `SharedArrayBuffer`, or a view over one) is
 * refused too, since a browser's `send()` throws for it.
 */
export function invalidBrowserFrame(frame: unknown): InvalidFrameError | undefined {
  const invalid = invalidFrame(frame);
  if (invalid !== undefined) return invalid;
  const buffer = ArrayBuffer.isView(frame) ? frame.buffer : frame;
  if (typeof buffer === 'object' && buffer !== null && Object.prototype.toString.call(buffer) === '[object SharedArrayBuffer]') {
    return new InvalidFrameError('Expected a string or binary data, got shared memory (a SharedArrayBuffer), which a browser cannot send');
  }
  return undefined;
}
