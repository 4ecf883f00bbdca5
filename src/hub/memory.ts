import { asyncScheduler, BehaviorSubject, type Observable, type SchedulerLike } from 'rxjs';
import { describe, InvalidArgumentError } from '../errors';
import type { AdapterHost, AdapterLink, AdapterStats, HubAdapter, HubEnvelope, HubStatus } from './adapter';
import { expectObject, expectScheduler } from '../validation';

/** Options of {@link memoryAdapter}. */
export interface MemoryAdapterOptions {
  /** Hubs given the same bus reach each other's members, as if they ran in different processes. @default none: this hub only */
  readonly bus?: MemoryBus;
}

const CONNECTED: HubStatus = Object.freeze({ state: 'connected', attempts: 0 });
const NO_TRAFFIC: AdapterStats = Object.freeze({ published: 0, received: 0, queued: 0, dropped: 0, refused: 0, lag: 0 });

/**
 * The default adapter: members of this hub only, nothing to set up. With a
 * shared {@link MemoryBus}, several hubs in one process behave like hubs in
 * several processes (envelopes, presence, exactly-once): for tests, in
 * virtual time if the bus has a `TestScheduler`.
 *
 * @example
 * const bus = new MemoryBus();
 * const a = createHub({ adapter: memoryAdapter({ bus }) });
 * const b = createHub({ adapter: memoryAdapter({ bus }) });
 */
export function memoryAdapter(options: MemoryAdapterOptions = {}): HubAdapter {
  const { bus } = expectObject('options', options) as MemoryAdapterOptions;
  if (bus !== undefined && !(bus instanceof MemoryBus)) {
    throw new InvalidArgumentError(`Expected \`bus\` to be a MemoryBus, got ${describe(bus)}`);
  }
  return { open: (host) => (bus === undefined ? new LocalLink() : bus.link(host)) };
}

/**
 * Topics shared by the hubs of one process. Envelopes are delivered on the
 * scheduler (one task per envelope), never inside the publisher's call, as a
 * broker would.
 */
export class MemoryBus {
  readonly #scheduler: SchedulerLike;
  readonly #topics = new Map<string, Set<AdapterHost>>();

  /** @param scheduler where deliveries run. @default asyncScheduler */
  constructor(scheduler: SchedulerLike = asyncScheduler) {
    this.#scheduler = expectScheduler('scheduler', scheduler);
  }

  /** @internal Connects one hub. */
  link(host: AdapterHost): AdapterLink {
    return new BusLink(this, host);
  }

  /** @internal */
  subscribe(topic: string, host: AdapterHost): void {
    let hosts = this.#topics.get(topic);
    if (hosts === undefined) this.#topics.set(topic, (hosts = new Set()));
    hosts.add(host);
    this.#scheduler.schedule(() => host.subscribed([topic]));
  }

  /** @internal */
  unsubscribe(topic: string, host: AdapterHost): void {
    const hosts = this.#topics.get(topic);
    if (hosts?.delete(host) && hosts.size === 0) this.#topics.delete(topic);
  }

  /** @internal Delivers to the hosts subscribed when the task runs, then calls `done` (the broker's acknowledgement). */
  publish(envelope: HubEnvelope, done: () => void): void {
    this.#scheduler.schedule(() => {
      const hosts = this.#topics.get(envelope.topic);
      if (hosts !== undefined) for (const host of [...hosts]) host.receive(envelope);
      done();
    });
  }
}

/** A hub alone: nothing leaves the process. */
class LocalLink implements AdapterLink {
  readonly shared = false;
  readonly #status = new BehaviorSubject<HubStatus>(CONNECTED);
  readonly status$: Observable<HubStatus> = this.#status.asObservable();
  readonly stats = NO_TRAFFIC;
  subscribe(): void {}
  unsubscribe(): void {}
  publish(): void {}
  close(): Promise<void> {
    this.#status.next({ state: 'disconnected', error: null });
    this.#status.complete();
    return Promise.resolve();
  }
}

/** A hub on a MemoryBus. */
class BusLink implements AdapterLink {
  readonly shared = true;
  readonly #bus: MemoryBus;
  readonly #topics = new Set<string>();
  readonly #status = new BehaviorSubject<HubStatus>(CONNECTED);
  readonly status$: Observable<HubStatus> = this.#status.asObservable();
  readonly #onDelivered = () => this.#published++;
  readonly #onReceive: AdapterHost;
  #published = 0;
  #received = 0;

  constructor(bus: MemoryBus, host: AdapterHost) {
    this.#bus = bus;
    // Counted on the way in, as the Redis adapter counts what the broker sends.
    this.#onReceive = {
      receive: (envelope) => {
        this.#received++;
        host.receive(envelope);
      },
      subscribed: (topics) => host.subscribed(topics),
    };
  }

  get stats(): AdapterStats {
    return { published: this.#published, received: this.#received, queued: 0, dropped: 0, refused: 0, lag: 0 };
  }

  subscribe(topic: string): void {
    if (this.#topics.has(topic)) return;
    this.#topics.add(topic);
    this.#bus.subscribe(topic, this.#onReceive);
  }

  unsubscribe(topic: string): void {
    if (this.#topics.delete(topic)) this.#bus.unsubscribe(topic, this.#onReceive);
  }

  publish(envelope: HubEnvelope): void {
    this.#bus.publish(envelope, this.#onDelivered);
  }

  close(): Promise<void> {
    for (const topic of this.#topics) this.#bus.unsubscribe(topic, this.#onReceive);
    this.#topics.clear();
    this.#status.next({ state: 'disconnected', error: null });
    this.#status.complete();
    return Promise.resolve();
  }
}
