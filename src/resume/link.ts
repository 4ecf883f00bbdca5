import type { SchedulerLike, Subscription } from 'rxjs';
import { FrameDroppedError, ResumeProtocolError } from '../errors';
import { isPrepared } from '../socket/frames';
import { Fifo } from '../socket/fifo';
import { byteLength, FrameQueue, type Offered, type QueueLimits } from '../socket/queue';
import type { Message, Outbound } from '../types';

/** The subprotocol a resumable session is negotiated with. */
export const RESUME_PROTOCOL = 'rxjs-ws.resume.1';

/**
 * @internal Offered before the resume protocol by a client that offers none
 * of its own: browsers and `ws` fail a handshake in which the server selects
 * none of the offered subprotocols, so a server without resume needs another
 * one to select for a plain connection.
 */
export const PLAIN_PROTOCOL = 'rxjs-ws.plain';

/** Why a client's session could not be resumed and a new one began. */
export type NewSessionReason = 'expired' | 'evicted' | 'unknown';

/** @internal A receiver acknowledges at the latest after this many data frames … */
export const ACK_EVERY = 64;
/** @internal … or this many ms after the first one it has not acknowledged. */
export const ACK_DELAY = 20;

/*
 * The wire. Data frames travel as they are, numbered implicitly: the n-th
 * data frame a side puts on a session is number n, and a connection starts
 * where the other side said it had got to. Control messages are text frames
 * that start with U+0000 and a letter:
 *   H{"s":id|null,"r":received,"w":window}      hello, the client's first frame
 *   W{"s":id,"r":received,"w":window,"resumed":bool,"why"?:reason}   welcome, the server's first frame
 *   A<n>                                         every data frame up to number n was taken
 *   B                                            the sender ends the session (its close frame follows);
 *                                                the receiver answers with an A of all it took
 * An application text frame that itself starts with U+0000 travels with one
 * more U+0000 in front.
 */
const MARK = 0;
const ESCAPE = '\u0000';
const ACK = '\u0000A';
const BYE = '\u0000B';

/** @internal The client's first frame on a resume connection. */
export interface Hello {
  /** The session to resume, or `null` for a new one. */
  readonly s: string | null;
  /** Data frames the client has taken of the session. */
  readonly r: number;
  /** The client's window: bytes it sends before it waits for acknowledgements. */
  readonly w: number;
}

/** @internal The server's first frame: the session, and what the server has taken of it. */
export interface Welcome {
  readonly s: string;
  readonly r: number;
  readonly w: number;
  readonly resumed: boolean;
  readonly why?: NewSessionReason;
}

/** @internal Encodes a hello or a welcome. */
export function handshakeFrame(kind: 'H' | 'W', body: Hello | Welcome): string {
  return `${ESCAPE}${kind}${JSON.stringify(body)}`;
}

const SESSION_ID = /^[A-Za-z0-9_-]{1,64}$/;
/** A hello or welcome is a few dozen characters; anything much longer is not one. */
const MAX_HANDSHAKE = 512;

function counter(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}

/** @internal Reads a hello (`kind` `'H'`) or welcome (`'W'`), or throws `ResumeProtocolError`. */
export function parseHandshake(kind: 'H', frame: Message): Hello;
/** @internal */
export function parseHandshake(kind: 'W', frame: Message): Welcome;
export function parseHandshake(kind: 'H' | 'W', frame: Message): Hello | Welcome {
  const what = kind === 'H' ? 'hello' : 'welcome';
  if (typeof frame !== 'string' || frame.charCodeAt(0) !== MARK || frame[1] !== kind) {
    throw new ResumeProtocolError(`expected the session ${what} first`);
  }
  if (frame.length > MAX_HANDSHAKE) throw new ResumeProtocolError(`the session ${what} is over ${MAX_HANDSHAKE} characters`);
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(frame.slice(2)) as Record<string, unknown>;
  } catch {
    throw new ResumeProtocolError(`the session ${what} is not JSON`);
  }
  const ok =
    typeof body === 'object' &&
    body !== null &&
    counter(body.r) &&
    counter(body.w) &&
    body.w > 0 &&
    (kind === 'H'
      ? body.s === null || (typeof body.s === 'string' && SESSION_ID.test(body.s))
      : typeof body.s === 'string' &&
        SESSION_ID.test(body.s) &&
        typeof body.resumed === 'boolean' &&
        (body.why === undefined || body.why === 'expired' || body.why === 'evicted' || body.why === 'unknown'));
  if (!ok) throw new ResumeProtocolError(`malformed session ${what}`);
  return body as unknown as Hello | Welcome;
}

/** @internal The connection a link writes to. */
export interface LinkConnection {
  next(frame: Outbound): void;
  /** It takes frames only while `'open'` (ws turns closing when the TCP connection ends, before `writable$` hears of it). */
  readonly state: string;
}

/** @internal What a link tells the session that owns it. */
export interface LinkHost {
  /** The peer sent its bye: the session ends with this connection. */
  bye(): void;
  /** Frames the waiting queue's policy dropped. */
  report(error: FrameDroppedError): void;
  /** What the link holds, or whether it takes more, may have changed. */
  changed(): void;
}

/**
 * @internal One side of a resumable session: numbers what it sends, keeps it
 * until the peer acknowledges it, resends it on the next connection, counts
 * what it receives and acknowledges that in batches.
 *
 * Outbound frames wait in a bounded queue (its policy applies), then go on
 * the connection while it is writable and the unacknowledged ones are under
 * the window (`maxBytes`): the window is the flow control between the two
 * sides, so the link holds at most `maxBytes` plus one frame it sent, plus
 * the queue. It writes a data frame only while the connection is writable,
 * so the connection's own queue never has to drop one (which would shift
 * the numbering).
 */
export class Link {
  readonly maxBytes: number;
  readonly #scheduler: SchedulerLike;
  readonly #host: LinkHost;
  readonly #waiting: FrameQueue;
  /** Sent but not acknowledged, numbered #acked + 1 …; the first #onWire went out on the current connection. */
  readonly #unacked = new Fifo<Outbound>();
  readonly #sizes = new Fifo<number>();
  #unackedBytes = 0;
  #onWire = 0;
  #acked = 0;
  /** The highest number ever sent on a connection (frames past it never left). */
  #highest = 0;
  #received = 0;
  /** The last count the peer was told (an ack, or the hello/welcome). */
  #told = 0;
  #bytesSinceAck = 0;
  #peerWindow = 1;
  #ackTimer: Subscription | null = null;
  #ackDue = false;
  #connection: LinkConnection | null = null;
  #writable = false;
  #pumping = false;

  constructor(maxBytes: number, limits: QueueLimits, scheduler: SchedulerLike, host: LinkHost) {
    this.maxBytes = maxBytes;
    this.#scheduler = scheduler;
    this.#host = host;
    this.#waiting = new FrameQueue(limits, (error) => host.report(error));
  }

  /** Data frames taken from the peer so far. */
  get received(): number {
    return this.#received;
  }

  /** Data frames the peer has acknowledged so far (it counts every frame put on the session, in order). */
  get acknowledged(): number {
    return this.#acked;
  }

  /** Bytes the link holds: unacknowledged frames and the waiting queue. */
  get bytes(): number {
    return this.#unackedBytes + this.#waiting.bytes;
  }

  /** Frames the link holds that the peer has not acknowledged, sent or not. */
  get pending(): number {
    return this.#unacked.length + this.#waiting.length;
  }

  /** Whether a frame offered now would go straight out (attached, writable, nothing waiting, room in the window). */
  get open(): boolean {
    return this.#connection !== null && this.#writable && this.#waiting.length === 0 && this.#onWire === this.#unacked.length && this.#hasRoom();
  }

  /** Whether it is attached to a connection. */
  get attached(): boolean {
    return this.#connection !== null;
  }

  /** Queues a data frame (its policy applies) and sends what it can. */
  offer(frame: Outbound): Offered {
    // The usual case, straight onto the wire: nothing waits or is to be sent again, the window has room.
    if (!this.#pumping && this.#waiting.length === 0 && this.#onWire === this.#unacked.length && this.#hasRoom() && this.#takes()) {
      // A string by its length (a UTF-8 count costs a pass over it, per frame): what it takes in memory, about.
      const size = typeof frame === 'string' ? frame.length : byteLength(frame);
      this.#unacked.push(frame);
      this.#sizes.push(size);
      this.#unackedBytes += size;
      this.#onWire++;
      this.#put(frame);
      // Only a full window changes what the owner sees (open); what it holds is told at the next acknowledgement.
      if (!this.#hasRoom()) this.#host.changed();
      return 'queued';
    }
    const offered = this.#waiting.offer(frame);
    if (offered === 'queued') this.#pump();
    return offered;
  }

  /**
   * Starts sending on `connection`, where the peer said it had got to
   * (`peerReceived`; frames before it are acknowledged, the rest is sent
   * again). The owner then says whether the connection is writable.
   * Throws `ResumeProtocolError` if the peer claims what was never sent.
   */
  attach(connection: LinkConnection, peerReceived: number, peerWindow: number): void {
    this.check(peerReceived);
    this.#acknowledge(peerReceived);
    this.#onWire = 0;
    this.#peerWindow = peerWindow;
    this.#told = this.#received;
    this.#bytesSinceAck = 0;
    this.#connection = connection;
    // Nothing goes out until the owner says the connection takes it (writable()).
    this.#writable = false;
  }

  /** Throws `ResumeProtocolError` if a peer that says it took `peerReceived` frames claims what was never sent (or less than it acknowledged). */
  check(peerReceived: number): void {
    if (peerReceived < this.#acked || peerReceived > this.#highest) {
      throw new ResumeProtocolError(`the peer says it took ${peerReceived} frames, but ${this.#acked} were acknowledged and ${this.#highest} sent`);
    }
  }

  /** The connection ended: what it did not acknowledge is sent again on the next one. */
  detach(): void {
    this.#connection = null;
    this.#writable = false;
    this.#onWire = 0;
    this.#cancelAck();
  }

  /** The connection can take more (`writable$`), or cannot. */
  writable(writable: boolean): void {
    this.#writable = writable;
    if (writable) this.#pump();
    else this.#host.changed();
  }

  /**
   * A frame read from the connection: the data frame to deliver, or
   * `undefined` for a control message (handled). Throws `ResumeProtocolError`
   * for a control message that breaks the protocol.
   */
  read(frame: Message): Message | undefined {
    let data = frame;
    if (typeof frame === 'string' && frame.charCodeAt(0) === MARK) {
      if (frame.charCodeAt(1) !== MARK) return this.#control(frame);
      data = frame.slice(1);
    }
    this.#received++;
    this.#bytesSinceAck += typeof data === 'string' ? data.length : data.byteLength;
    if (this.#received - this.#told >= ACK_EVERY || this.#bytesSinceAck * 4 >= this.#peerWindow) this.#ack();
    else if (this.#ackTimer === null) {
      this.#ackTimer = this.#scheduler.schedule(() => {
        this.#ackTimer = null;
        this.#ack();
      }, ACK_DELAY);
    }
    return data;
  }

  /**
   * Hands everything it holds to the connection regardless of its pace (the
   * connection's own queue and policy take it), then its count and, with
   * `bye`, the bye that ends the session (without it the client may present
   * the session again, to another process).
   */
  flush(bye = true): void {
    const connection = this.#connection;
    if (connection === null || connection.state !== 'open') return;
    while (this.#onWire < this.#unacked.length) this.#put(this.#unacked.at(this.#onWire++));
    while (this.#waiting.length > 0) this.#take();
    this.#cancelAck();
    if (this.#received !== this.#told) connection.next(ACK + this.#received);
    if (bye) connection.next(BYE);
  }

  /**
   * A new session begins (the peer did not know the old one): counts start
   * again. Frames sent on the old one and not acknowledged may or may not
   * have been taken: they are dropped and their count returned. Frames never
   * sent are kept, ahead of the queue.
   */
  reset(): number {
    const unsentFrom = this.#highest - this.#acked;
    const frames = this.#unacked.clear();
    this.#sizes.clear();
    this.#unackedBytes = 0;
    this.#waiting.requeue(frames.slice(unsentFrom));
    this.#acked = this.#highest = this.#received = this.#told = this.#onWire = 0;
    this.#cancelAck();
    return Math.min(unsentFrom, frames.length);
  }

  /** Takes the frames that wait (never numbered nor sent), oldest first. */
  takeWaiting(): Outbound[] {
    const frames = this.#waiting.takeAll();
    this.#host.changed();
    return frames;
  }

  /**
   * Empties it: the session is over. Returns how many frames it held that
   * were sent and never acknowledged, and how many were never sent.
   */
  clear(): [unconfirmed: number, unsent: number] {
    const sent = Math.min(this.#highest - this.#acked, this.#unacked.length);
    const counts: [number, number] = [sent, this.pending - sent];
    this.#unacked.clear();
    this.#sizes.clear();
    this.#unackedBytes = 0;
    this.#waiting.clear();
    this.detach();
    return counts;
  }

  #control(frame: string): undefined {
    if (frame.charCodeAt(1) === 65 /* A */) {
      const text = frame.slice(2);
      const n = Number(text);
      if (!/^\d{1,15}$/.test(text) || n < this.#acked || n > this.#acked + this.#onWire) {
        throw new ResumeProtocolError(`acknowledgement ${text.slice(0, 20)} out of range`);
      }
      this.#acknowledge(n);
      this.#pump();
      return undefined;
    }
    if (frame === BYE) {
      this.#host.bye();
      // Its close frame follows: it hears now what was taken, or it would report those frames unconfirmed.
      if (this.#received !== this.#told) this.#ack();
      return undefined;
    }
    throw new ResumeProtocolError(`unexpected control message ${JSON.stringify(frame.slice(1, 2))}`);
  }

  /** Drops what the peer has taken, up to number `n`. */
  #acknowledge(n: number): void {
    for (let i = this.#acked; i < n; i++) {
      this.#unacked.shift();
      this.#unackedBytes -= this.#sizes.shift();
    }
    this.#onWire = Math.max(0, this.#onWire - (n - this.#acked));
    this.#acked = n;
  }

  /** Whether the connection takes a frame now. */
  #takes(): boolean {
    return this.#connection !== null && this.#writable && this.#connection.state === 'open';
  }

  #hasRoom(): boolean {
    return this.#unacked.length === 0 || this.#unackedBytes < this.maxBytes;
  }

  /** Sends, in order, what was not sent on this connection, then what waits, while the connection and the window take it. */
  #pump(): void {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      while (this.#takes()) {
        if (this.#onWire < this.#unacked.length) this.#put(this.#unacked.at(this.#onWire++));
        else if (this.#waiting.length > 0 && this.#hasRoom()) this.#take();
        else break;
      }
      if (this.#ackDue && this.#takes()) this.#ack();
    } finally {
      this.#pumping = false;
    }
    this.#host.changed();
  }

  /** Moves the oldest waiting frame into the window and sends it. */
  #take(): void {
    const size = this.#waiting.bytes;
    const frame = this.#waiting.shift();
    this.#unacked.push(frame);
    this.#sizes.push(size - this.#waiting.bytes);
    this.#unackedBytes += size - this.#waiting.bytes;
    this.#onWire++;
    this.#put(frame);
  }

  #put(frame: Outbound): void {
    const number = this.#acked + this.#onWire;
    if (number > this.#highest) this.#highest = number;
    this.#connection!.next(escape(frame));
  }

  #ack(): void {
    if (this.#connection === null) return;
    if (!this.#takes()) {
      this.#ackDue = true;
      return;
    }
    this.#ackDue = false;
    this.#cancelAck();
    this.#told = this.#received;
    this.#bytesSinceAck = 0;
    this.#connection.next(ACK + this.#received);
  }

  #cancelAck(): void {
    this.#ackTimer?.unsubscribe();
    this.#ackTimer = null;
  }
}

/** A data frame as it travels: text that starts with U+0000 gets one more in front. */
function escape(frame: Outbound): Outbound {
  if (typeof frame === 'string') return frame.charCodeAt(0) === MARK ? ESCAPE + frame : frame;
  if (isPrepared(frame) && !frame.binary && frame.payload[0] === MARK) return ESCAPE + new TextDecoder().decode(frame.payload);
  return frame;
}

/** @internal Reports a session's unacknowledged frames that were lost with it. */
export function unconfirmed(count: number): FrameDroppedError | null {
  return count > 0 ? new FrameDroppedError('unconfirmed', count) : null;
}
