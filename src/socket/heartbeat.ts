import { asyncScheduler, type SchedulerAction, type SchedulerLike, type Subscription } from 'rxjs';
import type { HeartbeatTimeoutError } from '../errors';
import { HeartbeatState } from '../operators/heartbeat';
import { expectInteger, expectObject, expectOneOf, expectScheduler } from '../validation';
import { MAX_TIMER_DELAY } from '../constants';

/** Protocol-level heartbeat of a socket: ping frames, and termination of a peer that stopped answering. */
export interface HeartbeatOptions {
  /** Quiet time in ms after which a ping is sent, and the spacing of repeated pings. @default 30000 */
  readonly interval?: number;
  /** How long in ms a ping may go unanswered before the peer is terminated. @default 10000 */
  readonly timeout?: number;
  /** What counts as life: `'any'` inbound frame or pong, or `'pong'` only. @default 'any' */
  readonly life?: 'any' | 'pong';
  /** Time source (tests pass a `TestScheduler`). @default asyncScheduler */
  readonly scheduler?: SchedulerLike;
}

/** Validated heartbeat options. */
export interface ResolvedHeartbeat {
  readonly interval: number;
  readonly timeout: number;
  readonly life: 'any' | 'pong';
  readonly scheduler: SchedulerLike;
  /** How often the shared monitor looks at its sockets, in ms. */
  readonly tick: number;
}

export const DEFAULT_HEARTBEAT = { interval: 30_000, timeout: 10_000, life: 'any' } as const;

const resolved = new WeakSet<object>();

/** Validates heartbeat options once; `false` turns the heartbeat off (`null`). */
export function resolveHeartbeat(options: HeartbeatOptions | ResolvedHeartbeat | false | undefined): ResolvedHeartbeat | null {
  if (options === false) return null;
  if (options !== undefined && resolved.has(options)) return options as ResolvedHeartbeat;
  const o = expectObject('heartbeat', options);
  const interval = o.interval === undefined ? DEFAULT_HEARTBEAT.interval : expectInteger('heartbeat.interval', o.interval, 1, MAX_TIMER_DELAY);
  const timeout = o.timeout === undefined ? DEFAULT_HEARTBEAT.timeout : expectInteger('heartbeat.timeout', o.timeout, 1, MAX_TIMER_DELAY);
  const config: ResolvedHeartbeat = Object.freeze({
    interval,
    timeout,
    life: o.life === undefined ? DEFAULT_HEARTBEAT.life : expectOneOf('heartbeat.life', o.life, ['any', 'pong'] as const),
    scheduler: o.scheduler === undefined ? asyncScheduler : expectScheduler('heartbeat.scheduler', o.scheduler),
    // A tenth of the shorter period: deadlines are met within 10 %, with one timer for every socket.
    tick: Math.max(1, Math.floor(Math.min(interval, timeout) / 10)),
  });
  resolved.add(config);
  return config;
}

/** What the monitor drives: a socket's heartbeat step. */
export interface HeartbeatMember {
  /** Called on every tick with the scheduler's time. */
  beat(now: number): void;
}

/**
 * One timer for every socket resolved with the same heartbeat config (all of
 * a server's sockets), instead of a timer chain per socket: 10,000 sockets
 * cost one `setInterval`-like action and a loop over a Set. It runs only
 * while it has members.
 */
export class HeartbeatMonitor {
  static readonly #byConfig = new WeakMap<ResolvedHeartbeat, HeartbeatMonitor>();
  static readonly #running = new Set<HeartbeatMonitor>();

  readonly #members = new Set<HeartbeatMember>();
  readonly #config: ResolvedHeartbeat;
  #timer: Subscription | null = null;

  private constructor(config: ResolvedHeartbeat) {
    this.#config = config;
  }

  /** The monitor shared by every socket resolved with this config (a server's sockets, say). */
  static for(config: ResolvedHeartbeat): HeartbeatMonitor {
    let monitor = HeartbeatMonitor.#byConfig.get(config);
    if (monitor === undefined) HeartbeatMonitor.#byConfig.set(config, (monitor = new HeartbeatMonitor(config)));
    return monitor;
  }

  /** Sockets watched across all monitors (for tests and stats). */
  static get size(): number {
    let n = 0;
    for (const m of HeartbeatMonitor.#running) n += m.#members.size;
    return n;
  }

  /** Live timers across all monitors (for tests: 0 once every socket has closed). */
  static get timers(): number {
    return HeartbeatMonitor.#running.size;
  }

  add(member: HeartbeatMember): void {
    this.#members.add(member);
    if (this.#timer !== null) return;
    const members = this.#members;
    const { scheduler, tick } = this.#config;
    HeartbeatMonitor.#running.add(this);
    this.#timer = scheduler.schedule(function (this: SchedulerAction<void>) {
      const now = scheduler.now();
      for (const member of members) member.beat(now);
      this.schedule(undefined, tick);
    }, tick);
  }

  delete(member: HeartbeatMember): void {
    if (!this.#members.delete(member) || this.#members.size > 0) return;
    this.#timer?.unsubscribe();
    this.#timer = null;
    HeartbeatMonitor.#running.delete(this);
  }
}

/** @internal What a socket's heartbeat needs of its socket. */
export interface BeatHost {
  /** Sends a ping to the peer. */
  ping(): void;
  /** Ends the connection: the peer is gone. */
  heartbeatTimeout(error: HeartbeatTimeoutError): void;
  /** How many times a congested socket drained (the peer reads our bytes). */
  readonly drains: number;
  /**
   * Why the socket does not read right now: `'own'` for a reason of its own
   * that ends by itself (the rate limit), `'unread'` because nobody takes its
   * frames (hold full, `process()` backlog), `null` when it reads (or only
   * waits on the peer to read ours).
   */
  readonly pausedFor: 'own' | 'unread' | null;
}

/**
 * @internal One socket's heartbeat: driven by the shared monitor's tick, it
 * pings a quiet peer and gives it up when a ping goes unanswered. Signs of
 * life are pongs, and (with `life: 'any'`) frames and pings; while congested,
 * the peer draining our bytes counts too. A pause of the socket's own making
 * hides pongs, so it counts as life: the rate limit's ends by itself; one
 * because nobody reads is excused for 3 × (interval + timeout), then the
 * socket is pinged and judged like any other.
 */
export class SocketHeartbeat extends HeartbeatState implements HeartbeatMember {
  readonly #host: BeatHost;
  readonly #config: ResolvedHeartbeat;
  #frame = false;
  #pong = false;
  #drainsSeen = 0;
  #unreadSince = -1;

  constructor(host: BeatHost, config: ResolvedHeartbeat) {
    super(config.scheduler.now()); // the state is the socket's own: one object per socket, not two
    this.#host = host;
    this.#config = config;
    HeartbeatMonitor.for(config).add(this);
  }

  /** A data frame or a ping arrived. */
  frame(): void {
    this.#frame = true;
  }

  /** A pong arrived. */
  pong(): void {
    this.#pong = true;
  }

  /** Leaves the monitor. */
  stop(): void {
    HeartbeatMonitor.for(this.#config).delete(this);
  }

  beat(now: number): void {
    const { interval, timeout, life } = this.#config;
    const host = this.#host;
    const paused = host.pausedFor;
    if (paused !== 'unread') this.#unreadSince = -1;
    else if (this.#unreadSince < 0) this.#unreadSince = now;
    const excused = paused === 'own' || (paused === 'unread' && now - this.#unreadSince < 3 * (interval + timeout));
    const drains = host.drains;
    if (this.#pong || (this.#frame && life === 'any') || drains !== this.#drainsSeen || excused) {
      this.#frame = this.#pong = false;
      this.#drainsSeen = drains;
      this.life(now);
    }
    const due = this.step(now, interval, timeout);
    if (due === 'ping') host.ping();
    else if (due === 'timeout') host.heartbeatTimeout(this.error(timeout));
  }
}
