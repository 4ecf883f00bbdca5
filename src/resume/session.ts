import { BehaviorSubject, Observable, Subject, type SchedulerLike, type Subscription } from 'rxjs';
import { CloseCode, type SocketState } from '../constants';
import { FrameDroppedError, ResumeProtocolError, SocketClosedError, type RxjsWsError } from '../errors';
import { invalidFrame } from '../socket/frames';
import { current, endsWith, Held } from '../socket/held';
import type { QueueLimits } from '../socket/queue';
import type { RxSocket } from '../socket/socket';
import type { CloseInfo, Inbound, Outbound } from '../socket/types';
import type { SocketStats } from '../types';
import { handshakeFrame, Link, type Hello, type NewSessionReason } from './link';

/** @internal What a session needs of the server that keeps it. */
export interface SessionHost {
  readonly ttl: number;
  readonly maxBytes: number;
  readonly outbound: QueueLimits;
  readonly inboundHold: number;
  readonly scheduler: SchedulerLike;
  /** What the session holds changed (the memory budget's view). */
  cost(session: RxSession<unknown>, was: number, now: number): void;
  /** The session ended; `why` when it was not the app or the client that ended it. */
  ended(session: RxSession<unknown>, why: NewSessionReason | null): void;
  /** The session's client went away (`true`) or came back. */
  away(session: RxSession<unknown>, away: boolean): void;
}

type Counts = { -readonly [K in keyof SocketStats]: number };

/** What a client said of the session it presented when the server did not know it (see {@link RxSession.predecessor}). */
export interface SessionPredecessor {
  /** The id the client presented. */
  readonly id: string;
  /** Data frames the client said it had taken of that session. */
  readonly received: number;
  /** Why it could not be resumed here: `expired` or `evicted` here, or `unknown` (another process's, or this one's before a restart). */
  readonly why: NewSessionReason;
}

/** Characters of a session id that the sessions following it keep (see {@link RxSession.lineage}). */
export const LINEAGE_LENGTH = 16;

/**
 * A resumable session on the server: what one client sends and receives
 * across its connections, as long as it comes back within `ttl` after a
 * connection drops. It has a socket's surface (`messages$`, the sink,
 * `close$`, `errors$`, `writable$`): every frame the client sent reaches
 * `messages$` once and in order, and every frame given to `next()` reaches
 * the client once and in order, whatever connections broke between.
 *
 * The session ends when either side closes it (`close()` here, `close()` on
 * the client), or when the client does not come back within `ttl`.
 * Emitted by `server.sessions$`.
 */
export class RxSession<A = undefined> {
  /** The session's id (a secret: whoever presents it resumes the session). */
  readonly id: string;
  /** What `authenticate` returned for the connection that began the session. */
  readonly auth: A;
  /**
   * The session the client presented when this one began, if the server did
   * not know it: another process's session (or this process's before a
   * restart), or one that expired or was evicted here. This session then
   * begins anew, in the same {@link lineage}; the hub uses it to take the
   * client's topics over where the old session left them. `null` for a
   * client that asked for a new session.
   */
  readonly predecessor: SessionPredecessor | null;
  readonly #host: SessionHost;
  readonly #link: Link;
  readonly #inbound: SessionInbound;
  readonly #errors = new Subject<RxjsWsError>();
  readonly #writable = new BehaviorSubject<boolean>(false);
  readonly #closed = new Subject<CloseInfo>();
  #socket: RxSocket<A> | null = null;
  #wiring: Subscription | null = null;
  #reading: Subscription | null = null;
  #ttl: Subscription | null = null;
  #closeRequest: { code: number; reason: string } | null = null;
  #peerBye = false;
  #evicted = false;
  #handedOff = false;
  #closeInfo: CloseInfo | null = null;
  #cost = 0;
  #connections = 0;
  #counts: Counts = { received: 0, sent: 0, refused: 0, dropped: 0, discarded: 0 };

  /** @internal Made by the server when a client asks for a new session. */
  constructor(id: string, auth: A, host: SessionHost, predecessor: SessionPredecessor | null = null) {
    this.id = id;
    this.auth = auth;
    this.predecessor = predecessor;
    this.#host = host;
    this.#link = new Link(host.maxBytes, host.outbound, host.scheduler, {
      bye: () => {
        this.#peerBye = true;
      },
      report: (error) => this.#report(error),
      changed: () => this.#changed(),
    });
    this.#inbound = new SessionInbound(host.inboundHold, () => this.#listen());
    this.messages$ = this.#inbound.stream;
  }

  /** Frames from the client, once each and in order across its connections. Held until the first subscriber. Completes when the session ends. */
  readonly messages$: Observable<Inbound>;

  /** How the session ended (the close of its last connection, or the app's own close), once; replayed. */
  readonly close$: Observable<CloseInfo> = endsWith(this.#closed, () => this.#closeInfo);

  /** Frames refused or dropped, and frames unconfirmed when the session ended. */
  readonly errors$: Observable<RxjsWsError> = this.#errors.asObservable();

  /** `true` while a frame would go straight to the client; `false` while frames wait (no connection, congestion, a full window). */
  readonly writable$: Observable<boolean> = endsWith(
    current(this.#writable, () => this.#writableNow()),
    () => (this.#closeInfo === null ? null : false),
  );

  /** `'open'` while a connection is attached, `'connecting'` while the session waits for the client to come back, then `'closing'` and `'closed'`. */
  get state(): SocketState {
    if (this.#closeInfo !== null) return 'closed';
    if (this.#closeRequest !== null) return 'closing';
    return this.#socket === null ? 'connecting' : 'open';
  }

  /** The connection the session is on now, or `null` while the client is away. */
  get socket(): RxSocket<A> | null {
    return this.#socket;
  }

  /**
   * What the sessions of one client have in common: the first 16 characters
   * of the id, which a session begun for a client that presented an unknown
   * id keeps (the rest of the id is new). Not a secret to resume with, but
   * not to be shown either: the hub names a session's stored topic positions
   * after a digest of it.
   */
  get lineage(): string {
    return this.id.slice(0, LINEAGE_LENGTH);
  }

  /** How long, in ms, the session waits for its client after a connection drops (the server's `resume.ttl`). */
  get ttl(): number {
    return this.#host.ttl;
  }

  /**
   * @internal Frames the session has accepted from `next()` so far, and how
   * many of them the client has confirmed: the first `acknowledged` frames
   * accepted have reached the client or were dropped by the outbound policy.
   */
  get progress(): { readonly accepted: number; readonly acknowledged: number } {
    return { accepted: this.#counts.sent, acknowledged: this.#link.acknowledged };
  }

  /**
   * The server closed with `handOff`: the session ended here without telling
   * its client, which comes back with it (to another process, or to this one
   * restarted) and begins a new session of the same lineage there. The hub
   * keeps such a session's topics for it.
   */
  get handedOff(): boolean {
    return this.#handedOff;
  }

  /** Connections the session has had (1 until the first resume). */
  get connections(): number {
    return this.#connections;
  }

  /** How the session ended, or `null` while it lasts. */
  get closeInfo(): CloseInfo | null {
    return this.#closeInfo;
  }

  /** Bytes the session holds for the client: sent but unacknowledged, and waiting. */
  get bufferedAmount(): number {
    return this.#link.bytes + (this.#socket?.bufferedAmount ?? 0);
  }

  /** Frame counters: `received` and `sent` count each frame once, however often it travelled. */
  get stats(): SocketStats {
    return { ...this.#counts };
  }

  /** Sends a frame (or keeps it until the client is back); never throws: refusals go to `errors$`. */
  next(frame: Outbound): void {
    const error = this.#offer(frame);
    if (error !== undefined) this.#report(error);
  }

  /** Like `next()`, but throws `SocketClosedError`, `BackpressureError` or `InvalidFrameError`. */
  send(frame: Outbound): void {
    const error = this.#offer(frame);
    if (error !== undefined) {
      this.#counts.refused++;
      throw error;
    }
  }

  /** Closes the session with 1011 (the error is not sent). */
  error(_err: unknown): void {
    this.close(CloseCode.INTERNAL_ERROR);
  }

  /** Closes the session with 1000. */
  complete(): void {
    this.close(CloseCode.NORMAL);
  }

  /**
   * Ends the session: what is queued goes out, then the client is told the
   * session is over and the connection closes with `code`. A session whose
   * client is away ends at once. Idempotent.
   */
  close(code: number = CloseCode.NORMAL, reason = ''): void {
    this.#close(code, reason, true);
  }

  #close(code: number, reason: string, bye: boolean): void {
    if (this.#closeRequest !== null || this.#closeInfo !== null) return;
    this.#closeRequest = { code, reason };
    const socket = this.#socket;
    if (socket === null) return this.#end({ code, reason, wasClean: true }, null);
    this.#link.flush(bye);
    socket.close(code, reason);
    this.#changed();
  }

  /** Ends the session at once: the connection is cut, nothing more is sent. */
  terminate(): void {
    if (this.#closeInfo !== null) return;
    this.#closeRequest ??= { code: CloseCode.ABNORMAL, reason: '' };
    if (this.#socket === null) this.#end({ code: CloseCode.ABNORMAL, reason: '', wasClean: false }, null);
    else this.#socket.terminate();
  }

  /**
   * @internal The client presented this session (or began it) on `socket`:
   * welcome it, send again what it lacks, read what it sends. Returns
   * false, and closes `socket` with 1002, if its hello claims frames the
   * session never sent (the connection the session is on stays).
   */
  attach(socket: RxSocket<A>, hello: Hello, why?: NewSessionReason): boolean {
    try {
      this.#link.check(hello.r);
    } catch (error) {
      this.#broke(socket, error as ResumeProtocolError);
      return false;
    }
    const previous = this.#socket;
    if (previous !== null) {
      // The client gave up on its old connection before the server noticed: cut it, the session moves.
      this.#detach();
      previous.terminate();
    }
    this.#ttl?.unsubscribe();
    this.#ttl = null;
    this.#host.away(this as RxSession<unknown>, false);
    this.#socket = socket;
    this.#connections++;
    const wiring = (this.#wiring = socket.close$.subscribe((info) => this.#lost(socket, info)));
    if (this.#socket !== socket) return true; // it closed already
    socket.next(handshakeFrame('W', { s: this.id, r: this.#link.received, w: this.#host.maxBytes, resumed: this.#connections > 1, ...(why && { why }) }));
    this.#link.attach(socket, hello.r, hello.w);
    wiring.add(socket.writable$.subscribe((writable) => this.#link.writable(writable)));
    // What the connection refuses as it closes is the session's own (a frame kept until acknowledged, a count told again later): not the app's.
    wiring.add(socket.errors$.subscribe((error) => error instanceof SocketClosedError || this.#errors.next(error)));
    this.#listen();
    return true;
  }

  /**
   * @internal The server hands the session off (`close({ handOff })`): its
   * connection closes with `code` and no bye, and the session ends here.
   */
  handOff(code: number, reason: string): void {
    if (this.#closeRequest !== null || this.#closeInfo !== null) return;
    this.#handedOff = true;
    // What is queued still goes out, ahead of the close: the client's count on its next connection says what it got.
    this.#close(code, reason, false);
  }

  /** @internal Evicted by the server (memory budget, or too many sessions waiting): ends now. */
  evict(): void {
    if (this.#closeInfo !== null) return;
    this.#closeRequest ??= { code: CloseCode.POLICY_VIOLATION, reason: 'Session evicted' };
    const socket = this.#socket;
    if (socket === null) this.#end({ code: CloseCode.POLICY_VIOLATION, reason: 'Session evicted', wasClean: false }, 'evicted');
    else {
      this.#evicted = true;
      socket.close(CloseCode.POLICY_VIOLATION, 'Session evicted');
    }
  }

  /** @internal What it holds now, in bytes (the memory budget's estimate). */
  memoryCost(): number {
    return this.#link.bytes + this.#inbound.bytes;
  }

  #offer(frame: Outbound): RxjsWsError | undefined {
    if (this.#closeRequest !== null || this.#closeInfo !== null) return new SocketClosedError(this.#closeInfo);
    const invalid = invalidFrame(frame);
    if (invalid !== undefined) return invalid;
    const offered = this.#link.offer(frame);
    if (offered === 'queued') {
      this.#counts.sent++;
      return undefined;
    }
    if (offered === 'dropped') return undefined;
    if (offered === 'close') {
      const [unconfirmed, unsent] = this.#link.clear();
      this.#report(new FrameDroppedError('close', unconfirmed + unsent + 1));
      this.#closeRequest = { code: CloseCode.POLICY_VIOLATION, reason: 'Outbound queue full' };
      const socket = this.#socket;
      if (socket === null) this.#end({ code: CloseCode.POLICY_VIOLATION, reason: 'Outbound queue full', wasClean: false }, null);
      else socket.close(CloseCode.POLICY_VIOLATION, 'Outbound queue full');
      return undefined;
    }
    return offered;
  }

  /** Reads the connection while the hold has room (past it the connection holds, and stops reading). */
  #listen(): void {
    const socket = this.#socket;
    if (socket === null || this.#reading !== null || this.#inbound.full) return;
    // Known as #reading before the connection hands over what it held (at once, on subscribing): the hold stops it when full.
    new Observable<Inbound>((reader) => {
      this.#reading = reader;
      return socket.messages$.subscribe(reader);
    }).subscribe((frame) => this.#read(socket, frame));
    // The connection's messages$ completed at once (it closed): nothing to stop later. (A full hold set it to null already.)
    if ((this.#reading as Subscription | null)?.closed === true) this.#reading = null;
  }

  #read(socket: RxSocket<A>, frame: Inbound): void {
    let data;
    try {
      data = this.#link.read(frame);
    } catch (error) {
      return this.#broke(socket, error as ResumeProtocolError);
    }
    if (data === undefined) return;
    this.#counts.received++;
    this.#inbound.push(data as Inbound);
    // Held for a subscriber to come: that is memory the client makes the session hold (taken at once, it is none).
    if (this.#inbound.length > 0) this.#changed();
    if (this.#inbound.full) {
      this.#reading?.unsubscribe();
      this.#reading = null;
    }
  }

  /** The client broke the protocol: that connection closes with 1002 (the session waits for a better one). */
  #broke(socket: RxSocket<A>, error: ResumeProtocolError): void {
    this.#errors.next(error);
    socket.close(CloseCode.PROTOCOL_ERROR, error.message.slice(0, 120));
  }

  #detach(): void {
    this.#wiring?.unsubscribe();
    this.#reading?.unsubscribe();
    this.#wiring = this.#reading = null;
    this.#socket = null;
    this.#link.detach();
  }

  /** A connection closed: the session ends if either side ended it, else waits `ttl` for the client. */
  #lost(socket: RxSocket<A>, info: CloseInfo): void {
    if (this.#socket !== socket) return;
    this.#detach();
    if (this.#evicted) return this.#end(info, 'evicted');
    // A closing handshake that finished means the client read every frame sent before it.
    if (this.#closeRequest !== null || this.#peerBye) return this.#end(info, null, info.wasClean);
    this.#ttl = this.#host.scheduler.schedule(() => {
      this.#ttl = null;
      this.#end(info, 'expired');
    }, this.#host.ttl);
    this.#host.away(this as RxSession<unknown>, true);
    // Told last: a writable$ subscriber may end the session from inside, which must find it away to undo that.
    this.#changed();
  }

  #end(info: CloseInfo, why: NewSessionReason | null, delivered = false): void {
    if (this.#closeInfo !== null) return;
    this.#ttl?.unsubscribe();
    this.#ttl = null;
    this.#closeInfo = info;
    this.#closeRequest ??= { code: info.code, reason: info.reason };
    const [unconfirmed, unsent] = this.#link.clear();
    this.#changed();
    this.#host.ended(this as RxSession<unknown>, why);
    if (unconfirmed > 0 && !delivered) this.#report(new FrameDroppedError('unconfirmed', unconfirmed));
    if (unsent > 0) this.#report(new FrameDroppedError('closed', unsent));
    this.#writable.complete();
    this.#inbound.end();
    this.#closed.next(info);
    this.#closed.complete();
  }

  #report(error: RxjsWsError): void {
    if (!(error instanceof FrameDroppedError)) this.#counts.refused++;
    else this.#counts.dropped += error.count;
    this.#errors.next(error);
  }

  #writableNow(): boolean {
    return this.#closeRequest === null && this.#closeInfo === null && this.#link.open;
  }

  /** Tells writable$ and the memory budget what changed. */
  #changed(): void {
    const cost = this.#closeInfo === null ? this.memoryCost() : 0;
    if (cost !== this.#cost) {
      const was = this.#cost;
      this.#cost = cost;
      this.#host.cost(this as RxSession<unknown>, was, cost);
    }
    const writable = this.#writableNow();
    if (writable !== this.#writable.value && !this.#writable.isStopped) this.#writable.next(writable);
  }
}

/** The session's inbound hold: past `max` frames it stops reading the connection until a subscriber takes them. */
class SessionInbound extends Held<Inbound> {
  readonly #max: number;
  readonly #resume: () => void;
  bytes = 0;

  constructor(max: number, resume: () => void) {
    super();
    this.#max = max;
    this.#resume = resume;
  }

  get full(): boolean {
    return this.length >= this.#max;
  }

  protected override held(value: Inbound): void {
    this.bytes += value.length;
  }

  protected override released(value: Inbound): void {
    this.bytes -= value.length;
    if (this.length === this.#max - 1) this.#resume();
  }
}
