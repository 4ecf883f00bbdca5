import { BehaviorSubject, Observable, Subject, Subscription, type Observer, type SchedulerLike } from 'rxjs';
import { CLOSE_ABNORMAL, CLOSE_GOING_AWAY, CLOSE_NO_STATUS, CLOSE_NORMAL, type SocketState } from '../constants';
import { FrameDroppedError, HandshakeError, HeartbeatTimeoutError, ResumeProtocolError, SocketCloseError, SocketClosedError, type RxjsWsError } from '../errors';
import { backoffDelay } from '../operators/backoff';
import { snapshots } from '../operators/snapshots';
import { current, endsWith, Held } from '../socket/held';
import { FrameQueue } from '../socket/queue';
import { handshakeFrame, Link, parseHandshake, PLAIN_PROTOCOL, RESUME_PROTOCOL, type NewSessionReason } from '../resume/link';
import type { CloseInfo, Message, Outbound, SocketStats } from '../types';
import type { ResolvedCommon } from './common';


/** The surface sockets and clients share, so an app can take either. */
export interface SocketLike extends Observer<Outbound> {
  /** Inbound frames: text as `string`, binary as `Buffer` (`Uint8Array` in browsers). */
  readonly messages$: Observable<Message>;
  /** How it closed, once; replayed to late subscribers. */
  readonly close$: Observable<CloseInfo>;
  /** Frames refused or dropped, as they happen. */
  readonly errors$: Observable<RxjsWsError>;
  /** `true` while frames go straight to the network, `false` while they queue. */
  readonly writable$: Observable<boolean>;
  /** Where it is in its life. */
  readonly state: SocketState;
  /** The `close$` value, or `null` while open. */
  readonly closeInfo: CloseInfo | null;
  /** Bytes accepted but not yet written. */
  readonly bufferedAmount: number;
  /** Frame counters. */
  readonly stats: SocketStats;
  /** Sends (or queues) a frame; never throws. */
  next(frame: Outbound): void;
  /** Closes with 1011 (1000 with the reason `Client error` from a browser); the error is not sent. */
  error(err: unknown): void;
  /** Closes with 1000. */
  complete(): void;
  /** Like `next()`, but throws `SocketClosedError`, `BackpressureError` or `InvalidFrameError`. */
  send(frame: Outbound): void;
  /** Sends what is queued, then the close frame. Throws `InvalidArgumentError` for a code an endpoint may not send or a reason over 123 bytes. */
  close(code?: number, reason?: string): void;
  /** Ends the connection at once, without a closing handshake. */
  terminate(): void;
}

/** What became of the resumable session on the connection that opened (`resume` option). */
export interface SessionStatus {
  /**
   * `resumed`: the session goes on, nothing lost; `new`: a new session began
   * (the first, or `why` the last could not go on); `unsupported`: the
   * server does not offer resume, and the connection is a plain one.
   */
  readonly state: 'new' | 'resumed' | 'unsupported';
  /** Why the server did not know the session the client presented: it `expired` (ttl), was `evicted`, or is `unknown` (another server, or a restart). */
  readonly why?: NewSessionReason;
}

/** Where a client is in its life, as `status$` reports it. */
export interface ClientStatus {
  readonly state: 'connecting' | 'open' | 'reconnecting' | 'closed';
  /** Retries in the current outage: 0 on the first connect and once open. */
  readonly attempt: number;
  /** Ms until the next attempt (state `reconnecting`). */
  readonly delay?: number;
  /** How the last connection closed (states `reconnecting` and `closed`). */
  readonly lastClose?: CloseInfo;
  /** Why it is reconnecting, or why it gave up (see `ReconnectInfo.error`). */
  readonly error?: unknown;
  /** With `resume`, on `open`: whether the session was resumed. */
  readonly session?: SessionStatus;
}

/** A client's counters at one moment, as `client.metrics$()` emits them. */
export interface ClientMetrics {
  /** When it was taken: the scheduler's `now()`, in ms. */
  readonly at: number;
  /** Where the client is (`status.state`). */
  readonly state: ClientStatus['state'];
  /** Connections that opened so far. */
  readonly connections: number;
  /** Reconnect attempts scheduled so far, over every outage. */
  readonly reconnects: number;
  /** Frame counters over every connection (`stats`). */
  readonly messages: SocketStats;
  /** Frames waiting in the offline queue. */
  readonly queued: number;
  /** Bytes waiting: the offline queue and the connection's buffer (`bufferedAmount`). */
  readonly bufferedAmount: number;
}

/** @internal What a transport is told of the connection it opened. */
export interface DialHooks {
  /** The connection opened (after its own parts have), with the subprotocol the server selected (`''` for none). */
  opened(protocol: string): void;
  /** The connection ended with these frames accepted but never handed to the network. */
  unsent(frames: Outbound[]): void;
}

/** @internal A connection a transport opened. */
export interface Dialed<C extends SocketLike> {
  readonly connection: C;
  /** What explains the end of the connection (`close$`'s info), beyond the close itself: an HTTP refusal. */
  failure?(info: CloseInfo): RxjsWsError | undefined;
  /** Stops listening to it (the connection has ended). */
  release?(): void;
}

/** @internal How a client opens connections: `ws` in Node, the WebSocket of a browser. */
export interface Transport<C extends SocketLike> {
  /** Opens one; throws when it cannot even start. */
  dial(url: string, protocols: string[], hooks: DialHooks): Dialed<C>;
  /** Throws `InvalidArgumentError` for a close code or reason this side may not send. */
  validateClose(code: unknown, reason: unknown): void;
  /** The close `error()` sends. */
  readonly errorClose: { readonly code: number; readonly reason: string };
  /** The error for a value this side cannot send as a frame, or `undefined` when it can. */
  invalidFrame(frame: unknown): RxjsWsError | undefined;
  /**
   * Whether a connection holds its frames until the client listens (Node:
   * it stops reading, and TCP slows the server). When not, the client
   * listens at once and its own hold (`inboundHold`) takes them.
   */
  readonly holds: boolean;
  /**
   * Whether a connection that offered subprotocols and never opened may have
   * failed because the server selected none (then the client tries again at
   * once without resume). Node can tell (`ws` says so); a browser cannot, and
   * without this every failure before opening counts, except while a session
   * lives (its server selected resume).
   */
  noSubprotocol?(info: CloseInfo | undefined): boolean;
}

/**
 * A WebSocket client as streams, with the socket's surface, that survives
 * reconnects: `messages$`, the sink and `errors$` span every connection (an
 * `RxSocket` in Node, a browser's WebSocket there). Frames offered while no connection is open wait in
 * a bounded offline queue and go out first, in order, on the next open.
 *
 * It closes for good on `close()`/`complete()` (1000), `error()` (1011),
 * `terminate()`, a failure `shouldReconnect` refuses, when reconnect attempts
 * run out, and (refcount) when `messages$` has had a subscriber and the last
 * one unsubscribes: then it closes with 1000, not 1005 as RxJS's `webSocket()` does.
 *
 * @example
 * // Code written against SocketLike takes a server socket or a client alike.
 * const log = (socket: SocketLike) => socket.close$.subscribe(({ code }) => console.log('closed', code));
 * log(connect('ws://127.0.0.1:8080/ws'));
 */
export class RxClient<C extends SocketLike = SocketLike> implements SocketLike {
  readonly #url: string;
  readonly #config: ResolvedCommon;
  readonly #transport: Transport<C>;
  readonly #hooks: DialHooks;
  readonly #offline: FrameQueue;
  readonly #inbound: ClientInbound;
  readonly #status = new BehaviorSubject<ClientStatus>({ state: 'connecting', attempt: 0 });
  readonly #closed = new Subject<CloseInfo>();
  readonly #errors = new Subject<RxjsWsError>();
  readonly #writable = new BehaviorSubject<boolean>(false);
  readonly #ended: (() => void) | undefined;
  #socket: C | null = null;
  /** When the current connection opened (scheduler time), for minUptime. */
  #openedAt = -1;
  /** The retry timer fired while attempts were suspended (browsers, offline): dial on wake(). */
  #due = false;
  #suspended = false;
  #connection: Subscription | null = null;
  #listen: (() => void) | null = null;
  #timer: Subscription | null = null;
  #closeRequest: { code: number; reason: string } | null = null;
  #closeInfo: CloseInfo | null = null;
  #socketWritable = false;
  #subscribers = 0;
  #attempt = 0;
  #connections = 0;
  #reconnects = 0;
  /** writable$ notifications in progress (a subscriber may close the client from inside one). */
  #notifying = 0;
  /** The resumable session's sequencing (`resume` option), across connections. */
  readonly #link: Link | null;
  readonly #protocols: string[];
  #sessionId: string | null = null;
  /** The current connection negotiated resume. */
  #resuming = false;
  /** … and its welcome came: the session is on. */
  #welcomed = false;
  /** The server ended the session (its bye): it ends with the current connection. */
  #sessionOver = false;
  #welcomeTimer: Subscription | null = null;
  /** The server broke the session protocol on the current connection: it closes, and nothing more of it is read. */
  #broken = false;
  /**
   * Whether the next connection offers the resume subprotocol. A server that
   * selects no subprotocol fails a handshake that offers one: after an
   * attempt that offered it failed before opening, the next goes at once
   * without it, and the one after that offers it again.
   */
  #offerResume = true;
  /** The current connection offered resume / has opened. */
  #dialedResume = false;
  #transportOpened = false;
  #draining = false;
  /** Counters of the connections that ended, plus what the client itself refused, dropped and discarded. */
  #counts: Counts = { received: 0, sent: 0, refused: 0, dropped: 0, discarded: 0 };

  /** @internal Use `connect()`. Starts connecting at once. */
  constructor(url: string, config: ResolvedCommon, transport: Transport<C>, ended?: () => void) {
    this.#url = url;
    this.#config = config;
    this.#transport = transport;
    this.#ended = ended;
    this.#hooks = {
      opened: (protocol) => this.#opened(protocol),
      // Frames a connection never sent go back to the head of the offline queue, ahead of those offered since.
      // (A resumable session keeps every frame it handed to a connection until acknowledged: it sends them again itself.)
      unsent: (frames) => {
        if (!this.#resuming) this.#offline.requeue(frames);
      },
    };
    const resume = config.resume;
    // A server without resume must find another protocol it can select: the app's, or the plain one.
    this.#protocols = resume === null ? config.protocols : [...(config.protocols.length > 0 ? config.protocols : [PLAIN_PROTOCOL]), RESUME_PROTOCOL];
    this.#link =
      resume === null
        ? null
        : new Link(resume.maxBytes, config.offline, config.scheduler, {
            bye: () => {
              this.#sessionOver = true;
            },
            report: (error) => this.#report(error),
            changed: () => this.#linkChanged(),
          });
    this.#offline = new FrameQueue(config.offline, (error) => this.#report(error));
    this.#inbound = new ClientInbound(config.inboundHold, (error) => this.#report(error));
    this.#dial();
  }

  /**
   * Inbound frames of every connection, in one hot stream that reconnects do
   * not interrupt. Frames that arrive while nobody subscribes are held
   * (`inboundHold`). Completes when the client was closed (by you, or by the
   * server with a normal close it does not retry); errors with
   * `HandshakeError`, `SocketCloseError` or `HeartbeatTimeoutError` only when
   * it gives up. Unsubscribing its last subscriber closes the client with 1000.
   */
  readonly messages$: Observable<Message> = new Observable<Message>((subscriber) => {
    this.#subscribers++;
    subscriber.add(this.#inbound.stream.subscribe(subscriber));
    // Read the live connection only now that someone takes its frames; until then it holds them (and TCP slows the peer).
    if (!subscriber.closed) this.#listen?.();
    return () => {
      if (--this.#subscribers === 0) this.close(CLOSE_NORMAL);
    };
  });

  /** `{ state, attempt, delay?, lastClose?, error? }`: the current value first, then each change; completes after `closed`. */
  readonly status$: Observable<ClientStatus> = this.#status.asObservable();

  /** Emits once when the client has closed for good (not on reconnects), then completes; replayed. */
  readonly close$: Observable<CloseInfo> = endsWith(this.#closed, () => this.#closeInfo);

  /**
   * Frames refused or dropped, by the offline queue or by any connection, and
   * frames offered after the end (`SocketClosedError`). It never errors and
   * does not complete: frames offered to a closed client are reported here too.
   */
  readonly errors$: Observable<RxjsWsError> = this.#errors.asObservable();

  /** `true` while frames go straight to an open connection, `false` while they queue. Current value first; completes after the end. */
  readonly writable$: Observable<boolean> = endsWith(
    current(this.#writable, () => this.#writableNow()),
    () => (this.#closeInfo === null ? null : false),
  );

  /** `'open'` while a connection is open, `'connecting'` between connections, `'closing'` after `close()`, then `'closed'`. */
  get state(): SocketState {
    if (this.#closeInfo !== null) return 'closed';
    if (this.#closeRequest !== null) return 'closing';
    return this.#socket?.state === 'open' ? 'open' : 'connecting';
  }

  /** The current status (what `status$` last emitted). */
  get status(): ClientStatus {
    return this.#status.value;
  }

  /** The current connection, or `null` between connections and after the end. */
  get socket(): C | null {
    return this.#socket;
  }

  /** How the client closed, or `null` until it has. */
  get closeInfo(): CloseInfo | null {
    return this.#closeInfo;
  }

  /**
   * Bytes waiting: the offline queue plus the current connection's buffer;
   * with `resume`, plus what the session holds until the server acknowledges
   * it (which includes what a session's connection buffers).
   */
  get bufferedAmount(): number {
    return this.#offline.bytes + (this.#link?.bytes ?? 0) + (this.#resuming ? 0 : (this.#socket?.bufferedAmount ?? 0));
  }

  /** Counters over all connections, plus frames the offline queue refused or dropped (with `resume`, a session's data frames each once, however often they travelled). */
  get stats(): SocketStats {
    return addStats(this.#counts, this.#socketStats());
  }

  /**
   * The client's counters on subscription, then every `interval` ms, until
   * it has closed (with a last snapshot then). Cold: each subscriber has its
   * own timer.
   *
   * @param interval Ms between snapshots. @default 5000
   * @param scheduler Time source. @default the client's `scheduler` option, else asyncScheduler
   */
  metrics$(interval = 5000, scheduler: SchedulerLike = this.#config.scheduler): Observable<ClientMetrics> {
    return snapshots(
      (at): ClientMetrics => ({
        at,
        state: this.#status.value.state,
        connections: this.#connections,
        reconnects: this.#reconnects,
        messages: this.stats,
        queued: this.#offline.length,
        bufferedAmount: this.bufferedAmount,
      }),
      interval,
      scheduler,
      this.close$,
    );
  }

  /** Sends a frame, or queues it while no connection is open; never throws (refusals go to `errors$`). */
  next(frame: Outbound): void {
    if (this.#writableNow()) {
      // Checked here: a connection hands a bad frame back by throwing (a browser's), and next() never throws.
      const invalid = this.#transport.invalidFrame(frame);
      return invalid === undefined ? this.#put(frame) : this.#report(invalid);
    }
    const error = this.#enqueue(frame);
    if (error !== undefined) this.#report(error);
  }

  /** Like `next()`, but throws `SocketClosedError`, `BackpressureError` or `InvalidFrameError` to the caller. */
  send(frame: Outbound): void {
    if (this.#writableNow()) {
      if (!this.#resuming) return this.#socket!.send(frame);
      const invalid = this.#transport.invalidFrame(frame);
      if (invalid === undefined) return this.#put(frame);
      this.#counts.refused++;
      throw invalid;
    }
    const error = this.#enqueue(frame);
    if (error !== undefined) {
      this.#counts.refused++;
      throw error;
    }
  }

  /** Closes with 1011 (`INTERNAL_ERROR`; in a browser, which may not send it, 1000 "Client error"); the error is not sent. */
  error(_err: unknown): void {
    const { code, reason } = this.#transport.errorClose;
    this.close(code, reason);
  }

  /** Closes with 1000 (`NORMAL`). */
  complete(): void {
    this.close(CLOSE_NORMAL);
  }

  /**
   * Closes for good: a connection that is opening may finish its handshake
   * (with `resume`, until the session's welcome); then queued frames go out,
   * then the close frame. Between connections
   * the queue is dropped (`FrameDroppedError`) and the client closes at once,
   * reporting `code` and `reason` with `wasClean: true`. Idempotent; throws
   * `InvalidArgumentError` for a code an endpoint may not send.
   */
  close(code: number = CLOSE_NORMAL, reason = ''): void {
    this.#transport.validateClose(code, reason);
    if (this.#closeRequest !== null || this.#closeInfo !== null) return;
    this.#closeRequest = { code, reason };
    const socket = this.#socket;
    if (socket === null) return this.#finish(undefined, undefined);
    // A resume connection's handshake ends with the welcome: the close waits for it (#ready), so that the bye goes out.
    if (socket.state === 'open' && (!this.#resuming || this.#welcomed)) this.#closeOpen(socket);
    this.#notifyWritable();
  }

  /** Ends at once: no closing handshake, queued frames dropped (`close$` reports 1006 if a connection existed). */
  terminate(): void {
    if (this.#closeInfo !== null) return;
    this.#closeRequest ??= { code: CLOSE_ABNORMAL, reason: '' };
    if (this.#socket === null) this.#finish(undefined, undefined);
    else this.#socket.terminate();
  }

  /**
   * @internal Reconnection waits (a browser that is offline or hidden): a
   * retry that falls due meanwhile is kept until `wake()`.
   */
  suspend(): void {
    this.#suspended = true;
  }

  /** @internal Reconnects now if it waits to (the network is back, the page is visible again). */
  wake(): void {
    this.#suspended = false;
    if (this.#closeInfo !== null || this.#socket !== null || (this.#timer === null && !this.#due)) return;
    this.#timer?.unsubscribe();
    this.#timer = null;
    this.#due = false;
    this.#dial();
  }

  #enqueue(frame: Outbound): RxjsWsError | undefined {
    if (this.#closeRequest !== null || this.#closeInfo !== null) return new SocketClosedError(this.#closeInfo);
    const invalid = this.#transport.invalidFrame(frame);
    if (invalid !== undefined) return invalid;
    const offered = this.#offline.offer(frame);
    this.#notifyWritable();
    // 'dropped' is reported through the queue's onDrop; 'close' cannot happen (the policy is refused at connect()).
    return typeof offered === 'string' ? undefined : offered;
  }

  #report(error: RxjsWsError): void {
    const counts = this.#counts;
    if (!(error instanceof FrameDroppedError)) counts.refused++;
    else if (error.why === 'unread') counts.discarded += error.count;
    else counts.dropped += error.count;
    this.#errors.next(error);
  }

  /** Opens the next connection and wires it to the client until it closes. */
  #dial(): void {
    let dialed: Dialed<C>;
    try {
      this.#dialedResume = this.#link !== null && this.#offerResume;
      this.#transportOpened = false;
      dialed = this.#transport.dial(this.#url, this.#dialedResume ? this.#protocols : this.#config.protocols, this.#hooks);
    } catch (error) {
      return this.#lost(undefined, error);
    }
    const socket = dialed.connection;
    const connection = new Subscription(() => dialed.release?.());
    let listening = false;
    const listen = () => {
      if (listening) return;
      listening = true;
      connection.add(socket.messages$.subscribe((frame) => (this.#resuming ? this.#read(socket, frame) : this.#inbound.push(frame))));
    };
    // On a session, what the connection refuses as it closes is the session's own (kept until acknowledged, or told again): not the app's.
    connection.add(socket.errors$.subscribe((error) => (this.#resuming && error instanceof SocketClosedError) || this.#errors.next(error)));
    connection.add(
      socket.writable$.subscribe((writable) => {
        this.#socketWritable = writable;
        if (this.#welcomed) return this.#link!.writable(writable);
        // Until the client has said 'open' (status$ subscribers may send first), the queue waits.
        if (writable && this.#status.value.state === 'open') this.#drain();
        else this.#notifyWritable();
      }),
    );
    this.#socket = socket;
    this.#connection = connection;
    this.#listen = listen;
    // A resumable session reads at once: the welcome and acknowledgements come first, and frames it took are its to keep.
    if (this.#subscribers > 0 || !this.#transport.holds || this.#link !== null) listen();
    connection.add(
      socket.close$.subscribe((info) => {
        // Frames this connection holds for a subscriber yet to come move to the client's hold.
        listen();
        this.#lost(info, dialed.failure?.(info) ?? failureOf(info));
      }),
    );
  }

  #opened(protocol: string): void {
    const socket = this.#socket;
    if (socket === null) return;
    this.#transportOpened = true;
    const link = this.#link;
    if (link === null) return this.#ready(socket, undefined);
    if (protocol !== RESUME_PROTOCOL) {
      // A server without resume: a plain connection. What the session held moves to the offline queue.
      this.#endSession();
      this.#offline.requeue(link.takeWaiting());
      return this.#ready(socket, { state: 'unsupported' });
    }
    this.#resuming = true;
    socket.next(handshakeFrame('H', { s: this.#sessionId, r: link.received, w: link.maxBytes }));
    this.#welcomeTimer = this.#config.scheduler.schedule(() => {
      this.#welcomeTimer = null;
      this.#broke(socket, new ResumeProtocolError('no session welcome'));
    }, this.#config.resume!.timeout);
  }

  /** The connection is open (and its session on): tell, then send what waits. */
  #ready(socket: C, session: SessionStatus | undefined): void {
    this.#openedAt = this.#config.scheduler.now();
    this.#connections++;
    this.#status.next({ state: 'open', attempt: 0, ...(session && { session }) });
    if (this.#socket !== socket) return;
    if (this.#closeRequest !== null) this.#closeOpen(socket);
    else this.#drain();
  }

  /** A frame of a resume connection: the welcome first, then data and the session's control messages. */
  #read(socket: C, frame: Message): void {
    if (this.#broken) return;
    const link = this.#link!;
    if (!this.#welcomed) {
      this.#welcomeTimer?.unsubscribe();
      this.#welcomeTimer = null;
      let welcome;
      try {
        welcome = parseHandshake('W', frame);
        if (welcome.resumed && welcome.s !== this.#sessionId) throw new ResumeProtocolError('the session welcome resumes a session the client did not present');
        if (!welcome.resumed) {
          const unconfirmed = this.#sessionId === null ? 0 : link.reset();
          if (unconfirmed > 0) this.#report(new FrameDroppedError('unconfirmed', unconfirmed));
        }
        this.#sessionId = welcome.s;
        link.attach(socket, welcome.r, welcome.w);
      } catch (error) {
        return this.#broke(socket, error as ResumeProtocolError);
      }
      this.#welcomed = true;
      link.writable(this.#socketWritable);
      const session: SessionStatus = welcome.resumed ? { state: 'resumed' } : { state: 'new', ...(welcome.why && { why: welcome.why }) };
      return this.#ready(socket, session);
    }
    let data;
    try {
      data = link.read(frame);
    } catch (error) {
      return this.#broke(socket, error as ResumeProtocolError);
    }
    if (data === undefined) return;
    this.#counts.received++;
    this.#inbound.push(data);
  }

  /** The server broke the session protocol: reported, and the connection closes with 1002. */
  #broke(socket: C, error: ResumeProtocolError): void {
    this.#broken = true;
    this.#errors.next(error);
    socket.close(1002, error.message.slice(0, 120));
  }

  /** The session the client had is over: what it sent unacknowledged is reported (unless `delivered`), counts start again. */
  #endSession(delivered = false): void {
    const unconfirmed = this.#sessionId === null ? 0 : this.#link!.reset();
    this.#sessionId = null;
    this.#sessionOver = false;
    if (unconfirmed > 0 && !delivered) this.#report(new FrameDroppedError('unconfirmed', unconfirmed));
  }

  /** Hands a frame to the connection: through the session when there is one. */
  #put(frame: Outbound): void {
    if (!this.#resuming) return this.#socket!.next(frame);
    // #writableNow() held: the link sends it at once (nothing waits ahead of it, the window has room).
    if (this.#link!.offer(frame) === 'queued') this.#counts.sent++;
  }

  /**
   * The current connection's counters. A session counts its data frames
   * itself, each once: not the hello, welcome, acknowledgements and bye, nor a
   * frame sent again.
   */
  #socketStats(): SocketStats | undefined {
    const stats = this.#socket?.stats;
    return stats !== undefined && this.#resuming ? { ...stats, received: 0, sent: 0 } : stats;
  }

  /** The session's window or queue changed: send what the offline queue holds if it now can, and tell writable$. */
  #linkChanged(): void {
    if (this.#draining) return;
    if (this.#offline.length > 0 && this.#writableNowIgnoringQueue() && this.#status.value.state === 'open') this.#drain();
    else this.#notifyWritable();
  }

  /** Sends the offline queue in order while the connection takes it; the rest waits for `writable$`. */
  #drain(): void {
    const socket = this.#socket;
    this.#draining = true;
    try {
      while (this.#offline.length > 0 && this.#writableNowIgnoringQueue() && socket?.state === 'open') this.#put(this.#offline.shift());
    } finally {
      this.#draining = false;
    }
    this.#notifyWritable();
  }

  #closeOpen(socket: C): void {
    // The socket's own queue takes what is left, under its outbound policy, ahead of the close frame.
    while (this.#offline.length > 0 && socket.state === 'open') this.#put(this.#offline.shift());
    // The session sends all it holds, then its bye: the server ends it with this connection.
    if (this.#welcomed) this.#link!.flush();
    const { code, reason } = this.#closeRequest!;
    if (code === CLOSE_ABNORMAL) socket.terminate();
    else socket.close(code, reason);
  }

  /** The connection ended (or could not be created): reconnect, or end the client. */
  #lost(info: CloseInfo | undefined, error: unknown): void {
    if (this.#socket !== null) this.#counts = addStats(this.#counts, this.#socketStats());
    this.#connection?.unsubscribe();
    this.#socket = this.#connection = this.#listen = null;
    this.#socketWritable = false;
    this.#link?.detach();
    this.#welcomeTimer?.unsubscribe();
    this.#welcomeTimer = null;
    this.#resuming = this.#welcomed = this.#broken = false;
    // The server ended the session (its bye) on this connection. A closing handshake that finished means the server read
    // every frame sent before it, though its acknowledgement could not follow (its connection was closing).
    if (this.#sessionOver) this.#endSession(info?.wasClean === true);
    // Offered resume and never opened (not an HTTP refusal): perhaps a server that selects no subprotocol. Once, at once, without.
    // A browser cannot tell that from any other failure: while a session lives (its server selected resume), it keeps offering
    // resume, or a network blip would open a plain connection, which ends the session.
    const fallBack =
      this.#dialedResume &&
      !this.#transportOpened &&
      this.#closeRequest === null &&
      !(error instanceof HandshakeError && error.status >= 400) &&
      (this.#transport.noSubprotocol?.(info) ?? this.#sessionId === null);
    this.#offerResume = !fallBack;
    if (fallBack) return this.#dial();
    const backoff = this.#config.backoff;
    // Only a connection that stayed open long enough worked: then this outage counts from the start.
    const wasOpen = this.#openedAt >= 0;
    if (wasOpen && backoff !== null && this.#config.scheduler.now() - this.#openedAt >= backoff.minUptime) this.#attempt = 0;
    this.#openedAt = -1;
    let retry = this.#closeRequest === null && backoff !== null && this.#attempt < backoff.maxAttempts;
    if (retry) {
      try {
        retry = this.#config.shouldReconnect({ ...(info && { close: info }), ...(error !== undefined && { error }), attempt: this.#attempt + 1 });
      } catch (thrown) {
        retry = false;
        error = thrown;
      }
    }
    if (this.#closeInfo !== null) return; // the app closed the client from shouldReconnect
    // The app asked to close: how the last connection ended is no failure of the client's.
    const asked = this.#closeRequest !== null;
    if (!retry) return this.#finish(info, asked ? undefined : error, asked && wasOpen ? 0 : this.#attempt);
    const attempt = ++this.#attempt;
    this.#reconnects++;
    const delay = backoffDelay(attempt, backoff!);
    // Scheduled before anyone hears of it: a status$ or writable$ subscriber may close the client, which cancels it.
    this.#timer = backoff!.scheduler.schedule(() => {
      this.#timer = null;
      if (this.#closeInfo !== null) return;
      if (this.#suspended) this.#due = true;
      else this.#dial();
    }, delay);
    this.#notifyWritable();
    this.#status.next({ state: 'reconnecting', attempt, delay, ...outcome(info, error) });
  }

  /** Ends the client: every stream ends, the queue is dropped, nothing stays scheduled. */
  #finish(info: CloseInfo | undefined, error: unknown, attempt = this.#attempt): void {
    this.#timer?.unsubscribe();
    this.#timer = null;
    const request = this.#closeRequest;
    this.#closeRequest ??= { code: info?.code ?? CLOSE_ABNORMAL, reason: info?.reason ?? '' };
    // Without a connection there was no handshake to cut short: the app's own close is clean, anything else is not.
    const code = request?.code ?? CLOSE_ABNORMAL;
    const closeInfo = (this.#closeInfo = info ?? { code, reason: request?.reason ?? '', wasClean: code !== CLOSE_ABNORMAL });
    const [unconfirmed, held] = this.#link?.clear() ?? [0, 0];
    const unsent = this.#offline.clear() + held;
    // Settled; now tell.
    // A closing handshake that finished means the server read every frame sent before it.
    if (unconfirmed > 0 && info?.wasClean !== true) this.#report(new FrameDroppedError('unconfirmed', unconfirmed));
    if (unsent > 0) this.#report(new FrameDroppedError('closed', unsent));
    this.#notifyWritable();
    if (this.#notifying === 0) this.#writable.complete();
    this.#status.next({ state: 'closed', attempt, ...outcome(info, error) });
    this.#status.complete();
    this.#inbound.end(error);
    this.#closed.next(closeInfo);
    this.#closed.complete();
    this.#ended?.();
  }

  /** Whether a frame goes straight to the connection: it is open and takes more, nothing queued ahead, no close asked. */
  #writableNow(): boolean {
    // While the connection cannot take more (congested), frames wait in the offline queue: one queue, one policy, one order.
    return this.#offline.length === 0 && this.#writableNowIgnoringQueue();
  }

  /** Whether the connection takes a frame now: open (and its session on), not congested, no close asked. */
  #writableNowIgnoringQueue(): boolean {
    if (this.#closeRequest !== null || !this.#socketWritable || this.#socket?.state !== 'open') return false;
    return !this.#resuming || (this.#welcomed && this.#link!.open);
  }

  /** Tells `writable$` the new value, once the state that makes it is settled. */
  #notifyWritable(): void {
    const subject = this.#writable;
    const writable = this.#writableNow();
    if (writable === subject.value || subject.isStopped) return;
    this.#notifying++;
    try {
      subject.next(writable);
    } finally {
      this.#notifying--;
    }
    // Closed while subscribers were being told: complete once every one of them has the value.
    if (this.#notifying === 0 && this.#closeInfo !== null) subject.complete();
  }
}

/**
 * The client's inbound hold: frames of connections that ended before anyone
 * subscribed (and, in a browser, frames nobody takes yet). Bounded by
 * `inboundHold` frames: past it the oldest are discarded and reported
 * (`FrameDroppedError('unread')` on `errors$`).
 */
class ClientInbound extends Held<Message> {
  readonly #max: number;
  readonly #report: (error: FrameDroppedError) => void;

  constructor(max: number, report: (error: FrameDroppedError) => void) {
    super();
    this.#max = max;
    this.#report = report;
  }

  protected override held(): void {
    if (this.length <= this.#max) return;
    this.forgetOldest();
    this.#report(new FrameDroppedError('unread', 1));
  }
}

/** What a connection's end means to the client: nothing after a normal close, else the error that explains it. */
export function failureOf(info: CloseInfo): RxjsWsError | undefined {
  if (info.error instanceof HeartbeatTimeoutError || info.error instanceof HandshakeError) return info.error;
  const normal = info.wasClean && (info.code === CLOSE_NORMAL || info.code === CLOSE_GOING_AWAY || info.code === CLOSE_NO_STATUS);
  return normal ? undefined : new SocketCloseError(info, info.error === undefined ? undefined : { cause: info.error });
}

/** The `lastClose` and `error` of a status, without keys for what is unknown (statuses compare and print cleanly). */
function outcome(info: CloseInfo | undefined, error: unknown): Pick<ClientStatus, 'lastClose' | 'error'> {
  return { ...(info && { lastClose: info }), ...(error !== undefined && { error }) };
}

type Counts = { -readonly [K in keyof SocketStats]: number };

/** `a` plus `b`, counter by counter, as a new object. */
function addStats(a: SocketStats, b: SocketStats | undefined): Counts {
  const sum = { ...a };
  if (b !== undefined) for (const key of Object.keys(sum) as (keyof SocketStats)[]) sum[key] += b[key];
  return sum;
}
