import { BehaviorSubject, type Observable } from 'rxjs';
// Types only: ioredis is an optional peer dependency, loaded when redisAdapter() is called.
import type RedisClient from 'ioredis';
import type { RedisOptions } from 'ioredis';
import { describe, InvalidArgumentError, MissingDependencyError } from '../errors';
import type { AdapterHost, AdapterLink, AdapterStats, HubAdapter, HubEnvelope, HubStatus } from './adapter';
import { decodeEnvelope, encodeEnvelope } from './envelope';
import { Outbox, type OutboxLimits } from './outbox';
import { backoffDelay, resolveBackoff, type BackoffConfig, type ResolvedBackoff } from '../operators/backoff';
import { expectInteger, expectObject } from '../validation';

/** Options of {@link redisAdapter}. */
export interface RedisAdapterOptions {
  /** The Redis server: `redis://[[user]:password@]host[:port][/db]`, or `rediss://` for TLS. @default 'redis://127.0.0.1:6379' */
  readonly url?: string;
  /** Channel names are this plus the topic. @default 'rxws:' */
  readonly prefix?: string;
  /**
   * What may wait while Redis cannot be reached: publishes made meanwhile,
   * and those Redis had not acknowledged when the connection dropped. They
   * go out, in order, once it is back. Past either bound the oldest are
   * dropped (`stats.adapter.dropped`); `maxMessages: 0` keeps nothing, so
   * other processes simply miss what is published during an outage.
   * Local members are served either way.
   * @default { maxMessages: 10000, maxBytes: 8388608 }
   */
  readonly offline?: { readonly maxMessages?: number; readonly maxBytes?: number };
  /** When to retry a lost connection (`scheduler` is not used: ioredis keeps the timer). @default { initialDelay: 100, maxDelay: 5000, jitter: 'full' }, retrying forever */
  readonly backoff?: Omit<BackoffConfig, 'scheduler'>;
  /** How long the hub's `close()` waits for queued envelopes to be acknowledged, in ms. @default 2000 */
  readonly closeTimeout?: number;
  /** More ioredis options (TLS, Sentinel, timeouts...). rxws's own settings win: no offline queue, no resend, no auto-resubscribe, its retry strategy. */
  readonly redisOptions?: Readonly<Record<string, unknown>>;
}

interface Resolved {
  readonly url: string;
  readonly prefix: string;
  readonly offline: OutboxLimits;
  readonly backoff: ResolvedBackoff;
  readonly closeTimeout: number;
  readonly redisOptions: Readonly<Record<string, unknown>>;
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
  const prefix = o.prefix ?? 'rxws:';
  if (typeof prefix !== 'string') throw new InvalidArgumentError(`Expected \`prefix\` to be a string, got ${describe(prefix)}`);
  const offline = expectObject('offline', o.offline);
  const resolved: Resolved = {
    url,
    prefix,
    offline: {
      maxMessages: offline.maxMessages === undefined ? 10_000 : expectInteger('offline.maxMessages', offline.maxMessages, 0),
      maxBytes: offline.maxBytes === undefined ? 8 * 1024 * 1024 : expectInteger('offline.maxBytes', offline.maxBytes, 0),
    },
    backoff: resolveBackoff({ initialDelay: 100, maxDelay: 5_000, ...expectObject('backoff', o.backoff) }),
    closeTimeout: o.closeTimeout === undefined ? 2_000 : expectInteger('closeTimeout', o.closeTimeout, 0),
    redisOptions: expectObject('redisOptions', o.redisOptions),
  };
  const Redis = loadIoredis();
  return { open: (host) => new RedisLink(host, resolved, Redis) };
}

type RedisConstructor = new (url: string, options: RedisOptions) => RedisClient;

function loadIoredis(): RedisConstructor {
  try {
    const module = require('ioredis') as RedisConstructor & { default?: RedisConstructor };
    return module.default ?? module;
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
  /** Topics wanted, whether or not Redis has confirmed them. */
  readonly #topics = new Set<string>();
  readonly #prefixBytes: number;
  #subReady = false;
  #resubscribed = false;
  /** Bumped on each connection of the subscriber, so a late answer from an old one is ignored. */
  #subEpoch = 0;
  #attempts = 0;
  #error: Error | null = null;
  #received = 0;
  #closing: Promise<void> | null = null;

  constructor(host: AdapterHost, options: Resolved, Redis: RedisConstructor) {
    this.#host = host;
    this.#options = options;
    this.#prefixBytes = Buffer.byteLength(options.prefix);
    const own: RedisOptions = {
      // Our outbox queues (bounded) and resends in order; ioredis's queue is unbounded and resends out of order.
      enableOfflineQueue: false,
      autoResendUnfulfilledCommands: false,
      autoResubscribe: false,
      maxRetriesPerRequest: null,
      retryStrategy: (attempt: number) => this.#retry(attempt),
    };
    this.#pub = new Redis(options.url, { ...options.redisOptions, ...own, connectionName: 'rxws-hub-pub' });
    this.#sub = new Redis(options.url, { ...options.redisOptions, ...own, connectionName: 'rxws-hub-sub' });
    this.#outbox = new Outbox(options.offline, (channel, data, ack) => void this.#pub.publish(channel, data).then(ack, ignore));

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
    return { published: this.#outbox.acked, received: this.#received, queued: this.#outbox.length, dropped: this.#outbox.dropped };
  }

  subscribe(topic: string): void {
    this.#topics.add(topic);
    if (!this.#subReady) return; // subscribed with the rest on 'ready'
    const epoch = this.#subEpoch;
    this.#sub.subscribe(this.#options.prefix + topic).then(() => {
      if (epoch === this.#subEpoch && this.#topics.has(topic)) this.#host.subscribed([topic]);
    }, ignore);
  }

  unsubscribe(topic: string): void {
    if (this.#topics.delete(topic) && this.#subReady) this.#sub.unsubscribe(this.#options.prefix + topic).catch(ignore);
  }

  publish(envelope: HubEnvelope): void {
    // Presence is state, asked for again on reconnect: not worth a place in the offline queue.
    const volatile = envelope.kind !== 'text' && envelope.kind !== 'binary';
    this.#outbox.push(this.#options.prefix + envelope.topic, encodeEnvelope(envelope), volatile);
  }

  close(): Promise<void> {
    return (this.#closing ??= this.#shutdown());
  }

  async #shutdown(): Promise<void> {
    await this.#outbox.drained(this.#options.closeTimeout);
    this.#outbox.clear();
    await Promise.all([quit(this.#pub), quit(this.#sub)]);
    this.#status.next({ state: 'disconnected', error: null });
    this.#status.complete();
  }

  #subscribeAll(): void {
    this.#subReady = true;
    const epoch = ++this.#subEpoch;
    const topics = [...this.#topics];
    const done = () => {
      if (epoch !== this.#subEpoch) return;
      this.#resubscribed = true;
      if (topics.length > 0) this.#host.subscribed(topics);
      this.#update();
    };
    if (topics.length === 0) return done();
    this.#sub.subscribe(...topics.map((topic) => this.#options.prefix + topic)).then(done, ignore);
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

/** Says goodbye to a connected server; otherwise just stops retrying (ioredis emits no 'end' between attempts). */
async function quit(client: RedisClient): Promise<void> {
  if (client.status !== 'ready') return client.disconnect();
  const ended = new Promise<void>((resolve) => client.once('end', () => resolve()));
  await client.quit().catch(() => client.disconnect());
  await ended;
}

function ignore(): void {}
