import { randomBytes } from 'node:crypto';
import type { Observable, SchedulerLike, Subscription } from 'rxjs';
import { CloseCode } from '../constants';
import { ResumeProtocolError } from '../errors';
import { Held } from '../socket/held';
import type { QueueLimits } from '../socket/queue';
import type { RxSocket } from '../socket/socket';
import { expectInteger, expectObject, orDefault } from '../validation';
import { parseHandshake, type Hello, type NewSessionReason } from './link';
import { LINEAGE_LENGTH, RxSession, type SessionHost } from './session';

/** Resumable sessions on a server (`serve({ resume })`). */
export interface ResumeOptions {
  /** How long, in ms, a session waits for its client after a connection drops. @default 120000 */
  readonly ttl?: number;
  /**
   * Bytes a session sends before it waits for the client to acknowledge them
   * (its window; the client keeps its own). What is sent and not yet
   * acknowledged is kept to send again after a drop, so this bounds what a
   * session holds, besides its outbound queue (`outbound`). @default 1 MiB
   */
  readonly maxBytes?: number;
  /** Sessions kept while their client is away; past it the one away longest is evicted. @default 10000 */
  readonly maxSessions?: number;
}

/** @internal What the registry is given by the server. */
export interface RegistryConfig {
  readonly ttl: number;
  readonly maxBytes: number;
  readonly maxSessions: number;
  readonly outbound: QueueLimits;
  readonly inboundHold: number;
  readonly helloTimeout: number;
  readonly scheduler: SchedulerLike;
  /** The server's memory budget, if any. */
  readonly budget: {
    change(member: RxSession<unknown>, was: number, now: number): void;
    release(member: RxSession<unknown>): void;
  } | null;
}

/** @internal Validates `serve({ resume })`. */
export function resolveResume(option: unknown): Pick<RegistryConfig, 'ttl' | 'maxBytes' | 'maxSessions'> | null {
  if (option === undefined || option === false) return null;
  const o = option === true ? {} : expectObject('resume', option);
  return {
    ttl: expectInteger('resume.ttl', orDefault(o.ttl, 120_000), 1),
    maxBytes: expectInteger('resume.maxBytes', orDefault(o.maxBytes, 1024 * 1024), 1),
    maxSessions: expectInteger('resume.maxSessions', orDefault(o.maxSessions, 10_000), 1),
  };
}

/** Ids of sessions that ended, and why, so a client that presents one hears why it gets a new session. */
const REMEMBERED = 65_536;

/**
 * @internal The server's sessions: reads each resume connection's hello,
 * resumes the session it names or begins a new one, and keeps the sessions
 * whose client is away for `ttl` (at most `maxSessions` of them).
 */
export class SessionRegistry<A> {
  readonly #config: RegistryConfig;
  readonly #host: SessionHost;
  readonly #sessions = new Map<string, RxSession<A>>();
  /** Sessions whose client is away, oldest first (a Map keeps insertion order). */
  readonly #away = new Set<RxSession<A>>();
  readonly #gone = new Map<string, NewSessionReason>();
  readonly #new = new Held<RxSession<unknown>>();
  #resumed = 0;
  #expired = 0;
  #evicted = 0;

  constructor(config: RegistryConfig) {
    this.#config = config;
    const budget = config.budget;
    this.#host = {
      ttl: config.ttl,
      maxBytes: config.maxBytes,
      outbound: config.outbound,
      inboundHold: config.inboundHold,
      scheduler: config.scheduler,
      cost: budget === null ? () => {} : (session, was, now) => budget.change(session, was, now),
      ended: (session, why) => this.#ended(session as RxSession<A>, why),
      away: (session, away) => this.#setAway(session as RxSession<A>, away),
    };
  }

  /** New sessions, as they begin; held for the first subscriber. */
  get sessions$(): Observable<RxSession<A>> {
    return this.#new.stream as Observable<RxSession<A>>;
  }

  /** Sessions now, with their client or waiting for it. */
  get size(): number {
    return this.#sessions.size;
  }

  /** The counters of `server.metrics()`. */
  counts(): { open: number; away: number; resumed: number; expired: number; evicted: number } {
    return { open: this.#sessions.size, away: this.#away.size, resumed: this.#resumed, expired: this.#expired, evicted: this.#evicted };
  }

  /** A connection that negotiated resume: waits for its hello, then resumes or begins its session. */
  accept(socket: RxSocket<A>): void {
    let timer: Subscription | null = null;
    let done = false;
    // eslint-disable-next-line prefer-const
    let reading: Subscription | undefined;
    reading = socket.messages$.subscribe((frame) => {
      if (done) return;
      done = true;
      reading?.unsubscribe();
      timer?.unsubscribe();
      // The connection is closing (the server closes, or a policy closed it): no welcome could reach the client.
      if (socket.state !== 'open') return;
      let hello;
      try {
        hello = parseHandshake('H', frame);
      } catch (error) {
        return socket.close(CloseCode.PROTOCOL_ERROR, (error as ResumeProtocolError).message.slice(0, 120));
      }
      this.#open(socket, hello);
    });
    if (done) return reading.unsubscribe();
    const closed = socket.close$.subscribe(() => {
      reading.unsubscribe();
      timer?.unsubscribe();
    });
    reading.add(closed);
    timer = this.#config.scheduler.schedule(() => {
      reading!.unsubscribe();
      socket.close(CloseCode.PROTOCOL_ERROR, 'No session hello');
    }, this.#config.helloTimeout);
  }

  /** Ends every session (the server is closing): with their clients, or, `handOff`, without telling them. */
  close(code: number, reason: string, handOff: boolean): void {
    for (const session of [...this.#sessions.values()]) {
      if (handOff) session.handOff(code, reason);
      else session.close(code, reason);
    }
    this.#new.end();
  }

  #open(socket: RxSocket<A>, hello: Hello): void {
    const id = hello.s;
    const found = id === null ? undefined : this.#sessions.get(id);
    if (found !== undefined && found.state !== 'closing') {
      if (found.attach(socket, hello)) this.#resumed++;
      return;
    }
    const why = id === null ? undefined : (this.#gone.get(id) ?? 'unknown');
    // A client that presents a session this process does not know keeps its lineage (the hub finds its topics by
    // it); the rest of the id is new, so the old session, should it still wait here or elsewhere, is never resumed
    // with counts that are not its own.
    const fresh = randomBytes(18).toString('base64url');
    const newId = id === null || id.length < LINEAGE_LENGTH ? fresh : id.slice(0, LINEAGE_LENGTH) + fresh.slice(LINEAGE_LENGTH);
    const predecessor = id === null ? null : { id, received: hello.r, why: why! };
    const session = new RxSession<A>(newId, socket.auth, this.#host, predecessor);
    this.#sessions.set(session.id, session);
    session.attach(socket, { ...hello, r: 0 }, why);
    this.#new.push(session as RxSession<unknown>);
  }

  #setAway(session: RxSession<A>, away: boolean): void {
    if (!away) {
      this.#away.delete(session);
      return;
    }
    this.#away.add(session);
    if (this.#away.size > this.#config.maxSessions) this.#away.values().next().value!.evict();
  }

  #ended(session: RxSession<A>, why: NewSessionReason | null): void {
    this.#sessions.delete(session.id);
    this.#away.delete(session);
    this.#config.budget?.release(session as RxSession<unknown>);
    this.#new.forget(session as RxSession<unknown>);
    if (why === 'expired') this.#expired++;
    else if (why === 'evicted') this.#evicted++;
    if (why !== null) {
      this.#gone.set(session.id, why);
      if (this.#gone.size > REMEMBERED) this.#gone.delete(this.#gone.keys().next().value!);
    }
  }
}
