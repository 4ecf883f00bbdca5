import { asyncScheduler, BehaviorSubject, Subject, type Observable } from 'rxjs';
// Types only: ioredis is an optional peer dependency, loaded when redisAdapter() is called.
import type RedisClient from 'ioredis';
import type { RedisOptions } from 'ioredis';
import { describe, InvalidArgumentError, MissingDependencyError, type RxjsWsError } from '../errors';
import {
  AdapterOverflowError,
  AdapterRefusedError,
  type AdapterHost,
  type AdapterLink,
  type AdapterStats,
  type HistoryLink,
  type HubAdapter,
  type HubEnvelope,
  type HubStatus,
} from './adapter';
import { decodeEnvelope, encodeEnvelope } from './envelope';
import { Outbox, type OutboxLimits } from './outbox';
import { defineScripts, RedisHistory, resolveHistory, type RedisHistoryOptions, type ResolvedHistory } from './redis-history';
import { backoffDelay, resolveBackoff, type BackoffConfig, type ResolvedBackoff } from '../operators/backoff';
import { expectInteger, expectObject } from '../validation';

/** Options of {@link redisAdapter}. */
export interface RedisAdapterOptions {
  /** The Redis server: `redis://[[user]:password@]host[:port][/db]`, or `rediss://` for TLS. @default 'redis://127.0.0.1:6379' */
  readonly url?: string;
  /** Channel names are this plus the topic. @default 'rxjs-ws:' */
  readonly prefix?: string;
  /**
   * What may wait for Redis, connected or not: publishes made while Redis
   * cannot be reached, those it had not acknowledged when the connection
   * dropped, and, while connected, those waiting for room in the `inflight`
   * window because Redis is slow to answer (or not answering: a stalled or
   * frozen server keeps its connections up). What is in flight counts too.
   * They go out, in order, once Redis takes them again. Past either bound
   * the oldest not yet sent are dropped: counted in `stats.adapter.dropped`,
   * and reported on `hub.errors$` (an `AdapterOverflowError`) once per
   * backlog. `maxMessages: 0` keeps nothing beyond the window, so other
   * processes simply miss what is published during an outage. Local members
   * are served either way.
   * @default { maxMessages: 10000, maxBytes: 8388608 }
   */
  readonly offline?: { readonly maxMessages?: number; readonly maxBytes?: number };
  /**
   * What may be on its way to Redis without an answer: written to the
   * connection and not acknowledged yet. Past either bound, publishes wait
   * (within `offline`) until answers make room, so a Redis that stops
   * answering while connected holds at most this much in the client's
   * buffers. One publish may always be in flight, however big.
   * @default { maxMessages: 1000, maxBytes: 1048576 }
   */
  readonly inflight?: { readonly maxMessages?: number; readonly maxBytes?: number };
  /** When to retry a lost connection (`scheduler` is not used: ioredis keeps the timer). @default { initialDelay: 100, maxDelay: 5000, jitter: 'full' }, retrying forever */
  readonly backoff?: Omit<BackoffConfig, 'scheduler'>;
  /**
   * How often a publish or a subscription that Redis answers with a transient
   * error is tried again, after the `backoff` delays: `BUSY` (a script runs),
   * `LOADING`, `TRYAGAIN`, `MASTERDOWN`, `CLUSTERDOWN`, `OOM`. Other error
   * replies (`NOPERM`, `READONLY`, `ERR`...) would come again, so they are
   * given up at once. Publishes made meanwhile wait behind a refused one, so
   * one hub's order holds; one that a later publish overtook (Redis took it
   * between two refusals) is given up too, as receivers would drop it as
   * already seen. A publish given up is counted in `stats.adapter.dropped`
   * and `refused`; a subscription given up is tried again on the next
   * reconnect; both are reported on `hub.errors$`.
   * @default 3
   */
  readonly retries?: number;
  /**
   * How long the hub's `close()` waits for queued envelopes to be
   * acknowledged, in ms. Its goodbye to Redis (QUIT) then waits as long
   * again, at least a second, before the connections are simply closed (a
   * frozen Redis never answers it).
   * @default 2000
   */
  readonly closeTimeout?: number;
  /** More ioredis options (TLS, Sentinel, timeouts...). rxjs-ws's own settings win: no offline queue, no resend, no auto-resubscribe, its retry strategy. */
  readonly redisOptions?: Readonly<Record<string, unknown>>;
  /**
   * Keeps each topic's messages in a Redis Stream (`prefix` + `h:` + topic),
   * bounded by length and age, and the hub's sessions' positions in them:
   * a session's client that comes back to another process (or after a
   * restart) resumes its topics there, and gets what was published while it
   * was away. Each publish then adds the message to the stream and publishes
   * it with its place there, in one script. Needs Redis 6.2 or later. `true`
   * takes the defaults. @default false
   */
  readonly history?: RedisHistoryOptions | boolean;
}

interface Resolved {
  readonly url: string;
  readonly prefix: string;
  readonly offline: OutboxLimits;
  readonly inflight: OutboxLimits;
  readonly backoff: ResolvedBackoff;
  readonly retries: number;
  readonly closeTimeout: number;
  readonly redisOptions: Readonly<Record<string, unknown>>;
  readonly history: ResolvedHistory | null;
}

/**
 * Redis pub/sub between the hubs of several processes or hosts: one
 * publishing and one subscribed connection per hub, one channel per topic
 * with local interest. Needs `ioredis` 5 (an optional peer dependency).
 *
 * @example
 * const hub = createHub({ adapter: redisAdapter({ url: 'redis://127.0.0.1:6379' }) });
 * hub.status$.subscribe((status) => console.log('redis:', status.state));
 */
export function redisAdapter(options: RedisAdapterOptions = {}): HubAdapter {
  const o = expectObject('options', options) as RedisAdapterOptions;
  const url = o.url ?? 'redis://127.0.0.1:6379';
  if (typeof url !== 'string' || !/^rediss?:\/\//.test(url)) {
    throw new InvalidArgumentError(`Expected \`url\` to be a redis:// or rediss:// URL, got ${describe(url)}`);
  }
  const prefix = o.prefix ?? 'rxjs-ws:';
  if (typeof prefix !== 'string') throw new InvalidArgumentError(`Expected \`prefix\` to be a string, got ${describe(prefix)}`);
  const offline = expectObject('offline', o.offline);
  const inflight = expectObject('inflight', o.inflight);
  const resolved: Resolved = {
    url,
    prefix,
    offline: {
      maxMessages: offline.maxMessages === undefined ? 10_000 : expectInteger('offline.maxMessages', offline.maxMessages, 0),
      maxBytes: offline.maxBytes === undefined ? 8 * 1024 * 1024 : expectInteger('offline.maxBytes', offline.maxBytes, 0),
    },
    inflight: {
      maxMessages: inflight.maxMessages === undefined ? 1000 : expectInteger('inflight.maxMessages', inflight.maxMessages, 1),
      maxBytes: inflight.maxBytes === undefined ? 1024 * 1024 : expectInteger('inflight.maxBytes', inflight.maxBytes, 1),
    },
    backoff: resolveBackoff({ initialDelay: 100, maxDelay: 5_000, ...expectObject('backoff', o.backoff) }, asyncScheduler),
    retries: o.retries === undefined ? 3 : expectInteger('retries', o.retries, 0),
    closeTimeout: o.closeTimeout === undefined ? 2_000 : expectInteger('closeTimeout', o.closeTimeout, 0),
    redisOptions: expectObject('redisOptions', o.redisOptions),
    history: resolveHistory(o.history),
  };
  const ioredis = loadIoredis();
  return { open: (host) => new RedisLink(host, resolved, ioredis) };
}

/** Error replies of a passing state: the same command may be taken a little later (see `retries`). */
const TRANSIENT = /^(?:BUSY|LOADING|TRYAGAIN|MASTERDOWN|CLUSTERDOWN|OOM)\b/;

type RedisConstructor = new (url: string, options: RedisOptions) => RedisClient;

interface Ioredis {
  readonly Redis: RedisConstructor;
  /** What an error reply rejects with; any other rejection is the connection's. */
  readonly ReplyError: abstract new (...args: never[]) => Error;
}

function loadIoredis(): Ioredis {
  try {
    const module = require('ioredis') as RedisConstructor & { default?: RedisConstructor; ReplyError: Ioredis['ReplyError'] };
    return { Redis: module.default ?? module, ReplyError: module.ReplyError };
  } catch (err) {
    throw new MissingDependencyError('ioredis', 'redisAdapter()', { cause: err });
  }
}

/** One hub's two Redis connections. */
class RedisLink implements AdapterLink {
  readonly shared = true;
  readonly #host: AdapterHost;
  readonly #options: Resolved;
  readonly #pub: RedisClient;
  readonly #sub: RedisClient;
  readonly #outbox: Outbox;
  readonly #status = new BehaviorSubject<HubStatus>({ state: 'connecting' });
  readonly status$: Observable<HubStatus> = this.#status.asObservable();
  readonly #errors = new Subject<RxjsWsError>();
  readonly errors$: Observable<RxjsWsError> = this.#errors.asObservable();
  readonly #ReplyError: Ioredis['ReplyError'];
  /** Waits before a subscription is tried again, cleared at close. */
  readonly #timers = new Set<NodeJS.Timeout>();
  /** Topics wanted, whether or not Redis has confirmed them. */
  readonly #topics = new Set<string>();
  readonly #prefixBytes: number;
  readonly history: HistoryLink | undefined;
  readonly #history: RedisHistory | null = null;
  #subReady = false;
  #resubscribed = false;
  /** Bumped on each connection of the subscriber, so a late answer from an old one is ignored. */
  #subEpoch = 0;
  #attempts = 0;
  #error: Error | null = null;
  #received = 0;
  #closing: Promise<void> | null = null;

  constructor(host: AdapterHost, options: Resolved, { Redis, ReplyError }: Ioredis) {
    this.#host = host;
    this.#options = options;
    this.#ReplyError = ReplyError;
    this.#prefixBytes = Buffer.byteLength(options.prefix);
    const own: RedisOptions = {
      // Our outbox queues (bounded) and resends in order; ioredis's queue is unbounded and resends out of order.
      enableOfflineQueue: false,
      autoResendUnfulfilledCommands: false,
      autoResubscribe: false,
      maxRetriesPerRequest: null,
      retryStrategy: (attempt: number) => this.#retry(attempt),
    };
    this.#pub = new Redis(options.url, { ...options.redisOptions, ...own, connectionName: 'rxjs-ws-hub-pub' });
    this.#sub = new Redis(options.url, { ...options.redisOptions, ...own, connectionName: 'rxjs-ws-hub-sub' });
    if (options.history !== null) {
      defineScripts(this.#pub);
      this.#history = new RedisHistory(this.#pub, options.prefix, options.history);
    }
    this.history = this.#history ?? undefined;
    this.#outbox = new Outbox({
      limits: options.offline,
      window: options.inflight,
      retries: options.retries,
      retryDelay: (retry) => backoffDelay(retry, options.backoff),
      transmit: (channel, data, reply, except) =>
        void (
          except === undefined
            ? this.#pub.publish(channel, data)
            : this.#history!.publish(channel.slice(options.prefix.length), channel, data, except === '' ? undefined : except)
        ).then(
          () => reply.ack(),
          (err: unknown) => {
            // Any other failure is the connection's: its 'close' keeps the envelope for a resend.
            if (this.#isReply(err)) reply.refuse(err, TRANSIENT.test(err.message));
          },
        ),
      refused: (channel, error) => this.#errors.next(new AdapterRefusedError('publish', channel.slice(options.prefix.length), { cause: error })),
      overflow: (dropped) => this.#errors.next(new AdapterOverflowError(dropped, options.offline)),
    });

    this.#pub.on('ready', () => {
      this.#outbox.online();
      this.#update();
    });
    this.#pub.on('close', () => this.#outbox.offline());
    this.#sub.on('ready', () => this.#subscribeAll());
    this.#sub.on('close', () => {
      this.#subReady = this.#resubscribed = false;
    });
    this.#sub.on('messageBuffer', (channel: Buffer, message: Buffer) => this.#message(channel, message));
    for (const client of [this.#pub, this.#sub]) {
      client.on('error', (err: Error) => (this.#error = err));
      client.on('reconnecting', (delay: number) => this.#reconnecting(delay));
      client.on('end', () => this.#ended());
    }
  }

  get stats(): AdapterStats {
    const outbox = this.#outbox;
    return { published: outbox.acked, received: this.#received, queued: outbox.length, dropped: outbox.dropped, refused: outbox.refused, lag: outbox.lag };
  }

  subscribe(topic: string): void {
    this.#topics.add(topic);
    if (!this.#subReady) return; // subscribed with the rest on 'ready'
    const epoch = this.#subEpoch;
    void this.#subscribeTopic(topic, epoch).then((subscribed) => {
      if (subscribed && epoch === this.#subEpoch && this.#topics.has(topic)) this.#host.subscribed([topic]);
    });
  }

  unsubscribe(topic: string): void {
    if (this.#topics.delete(topic) && this.#subReady) this.#sub.unsubscribe(this.#options.prefix + topic).catch(ignore);
  }

  publish(envelope: HubEnvelope): void {
    // Presence is state, asked for again on reconnect: not worth a place in the offline queue.
    const volatile = envelope.kind !== 'text' && envelope.kind !== 'binary';
    // With history a message goes through the script (its `except` travels beside it); presence as it is.
    const history = this.#history !== null && !volatile ? (envelope.except ?? '') : undefined;
    this.#outbox.push(this.#options.prefix + envelope.topic, encodeEnvelope(envelope), volatile, history);
  }

  close(): Promise<void> {
    return (this.#closing ??= this.#shutdown());
  }

  async #shutdown(): Promise<void> {
    await this.#outbox.drained(this.#options.closeTimeout);
    // What is on its way is answered before QUIT is: it counts as published, not dropped.
    this.#outbox.stop();
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    const goodbye = Math.max(this.#options.closeTimeout, 1000);
    await Promise.all([quit(this.#pub, goodbye), quit(this.#sub, goodbye)]);
    this.#outbox.clear();
    this.#status.next({ state: 'disconnected', error: null });
    this.#status.complete();
    this.#errors.complete();
  }

  #subscribeAll(): void {
    this.#subReady = true;
    const epoch = ++this.#subEpoch;
    const topics = [...this.#topics];
    // One SUBSCRIBE per topic: Redis refuses a whole command for one channel it denies, which must not cost the others.
    void Promise.all(topics.map((topic) => this.#subscribeTopic(topic, epoch))).then((subscribed) => {
      if (epoch !== this.#subEpoch) return;
      this.#resubscribed = true;
      const confirmed = topics.filter((topic, i) => subscribed[i] && this.#topics.has(topic));
      if (confirmed.length > 0) this.#host.subscribed(confirmed);
      this.#update();
    });
  }

  /** Subscribes `topic`, again after a transient refusal. False if refused for good or the connection changed. */
  async #subscribeTopic(topic: string, epoch: number): Promise<boolean> {
    for (let refusals = 1; ; refusals++) {
      try {
        await this.#sub.subscribe(this.#options.prefix + topic);
        return true;
      } catch (err) {
        // Not an answer: the connection went, and its next 'ready' subscribes every topic again.
        if (!this.#isReply(err) || epoch !== this.#subEpoch || !this.#topics.has(topic)) return false;
        if (!TRANSIENT.test(err.message) || refusals > this.#options.retries) {
          this.#errors.next(new AdapterRefusedError('subscribe', topic, { cause: err }));
          return false;
        }
      }
      await this.#wait(backoffDelay(refusals, this.#options.backoff));
      if (epoch !== this.#subEpoch || !this.#topics.has(topic)) return false;
    }
  }

  /** Resolves after `ms`, or never if the hub closes first. */
  #wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#timers.delete(timer);
        resolve();
      }, ms);
      this.#timers.add(timer);
    });
  }

  #isReply(err: unknown): err is Error {
    return err instanceof this.#ReplyError;
  }

  #message(channel: Buffer, message: Buffer): void {
    this.#received++;
    const envelope = decodeEnvelope(channel.toString('utf8', this.#prefixBytes), message);
    if (envelope !== null) this.#host.receive(envelope);
  }

  /** Connected once both connections are up and every topic is subscribed again. */
  #update(): void {
    if (this.#closing !== null || this.#pub.status !== 'ready' || !this.#resubscribed) return;
    if (this.#status.value.state === 'connected') return;
    this.#status.next({ state: 'connected', attempts: this.#attempts });
    this.#attempts = 0;
    this.#error = null;
  }

  #retry(attempt: number): number | null {
    if (this.#closing !== null || attempt > this.#options.backoff.maxAttempts) return null;
    // Each connection counts its own attempts; the status shows the outage's longest run.
    this.#attempts = Math.max(this.#attempts, attempt);
    return backoffDelay(attempt, this.#options.backoff);
  }

  #reconnecting(delay: number): void {
    const status = this.#status.value;
    if (this.#closing !== null || (status.state === 'reconnecting' && status.attempt === this.#attempts)) return;
    this.#status.next({ state: 'reconnecting', attempt: this.#attempts, delay, error: this.#error });
  }

  #ended(): void {
    if (this.#closing !== null || this.#status.value.state === 'disconnected') return;
    this.#outbox.offline();
    this.#status.next({ state: 'disconnected', error: this.#error });
  }
}

/**
 * Says goodbye to a connected server, and closes the connection if it has not
 * answered within `timeout` ms (a frozen server never does); otherwise just
 * stops retrying (ioredis emits no 'end' between attempts).
 */
async function quit(client: RedisClient, timeout: number): Promise<void> {
  if (client.status !== 'ready') return client.disconnect();
  const ended = new Promise<void>((resolve) => client.once('end', () => resolve()));
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<void>((resolve) => (timer = setTimeout(() => (client.disconnect(), resolve()), timeout)));
  await Promise.race([client.quit().catch(() => client.disconnect()), late]);
  clearTimeout(timer);
  await ended;
}

function ignore(): void {}
