/**
 * Prometheus metrics of an rxjs-ws server, hub and client, on
 * [`prom-client`](https://github.com/siimon/prom-client) (an optional peer
 * dependency: `npm install prom-client`).
 *
 * @module rxjs-ws/prometheus
 */
import type * as Prom from 'prom-client';
import type { Subscription } from 'rxjs';
import { MissingDependencyError } from '../errors';
import type { RxClient, SocketLike } from '../client/client';
import type { Hub } from '../hub/hub';
import type { ServerMetrics } from '../server/metrics';
import { expectObject } from '../validation';

/** What of a prom-client `Registry` the adapter uses (a `Registry` is one). */
export interface RegistryLike {
  /** Takes a metric out, by name. */
  removeSingleMetric(name: string): void;
}

/** What the adapter reads of a server: an `RxServer` is one. */
export interface MetricsSource {
  /** The server's counters now. */
  metrics(): ServerMetrics;
}

/** Options of {@link prometheus}. */
export interface PrometheusOptions {
  /** The registry to register in. @default prom-client's global `register` */
  readonly registry?: RegistryLike;
  /** The server whose `metrics()` to expose (an `RxServer`). */
  readonly server?: MetricsSource;
  /** The hub whose `stats` (and adapter status and lag) to expose. */
  readonly hub?: Hub;
  /** A client whose counters to expose (`rxjs_ws_client_*`). */
  readonly client?: RxClient<SocketLike>;
  /** Prefix of every metric's name. @default 'rxjs_ws_' */
  readonly prefix?: string;
}

/** What {@link prometheus} registered. */
export interface PrometheusMetrics {
  /** The names of the metrics it registered. */
  readonly names: readonly string[];
  /** Takes them out of the registry again. */
  unregister(): void;
}

type Source<T> = () => T;

/**
 * Registers the counters of a server, a hub and/or a client as Prometheus
 * metrics, read when the registry is scraped (prom-client's `collect()`; no
 * timer). Counters end in `_total`, sizes are in `_bytes` and durations in
 * `_seconds`; labels have a few values each (refusal reasons, close codes
 * 1000-1015 and the classes `3xxx`/`4xxx`, hub states), never one per socket
 * or per address. Throws `MissingDependencyError` when `prom-client` is not
 * installed.
 *
 * @example
 * import { Registry } from 'prom-client';
 * import { prometheus } from 'rxjs-ws/prometheus';
 *
 * const registry = new Registry();
 * prometheus({ registry, server });
 * // GET /metrics: res.setHeader('Content-Type', registry.contentType); res.end(await registry.metrics());
 */
export function prometheus(options: PrometheusOptions): PrometheusMetrics {
  const o = expectObject('options', options) as PrometheusOptions;
  const prom = loadPromClient();
  const registry = (o.registry ?? prom.register) as Prom.Registry;
  const prefix = o.prefix ?? 'rxjs_ws_';
  const names: string[] = [];
  const gauge = <T>(source: Source<T>, name: string, help: string, value: (m: T) => number) => {
    new prom.Gauge({
      name: prefix + name,
      help,
      registers: [registry],
      collect() {
        this.set(value(source()));
      },
    });
    names.push(prefix + name); // once registered: unregister() takes out only what this call put in
  };
  const counter = <T>(source: Source<T>, name: string, help: string, value: (m: T) => number) => {
    new prom.Counter({
      name: prefix + name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(value(source()));
      },
    });
    names.push(prefix + name);
  };
  const labelled = <T>(source: Source<T>, name: string, help: string, label: string, values: (m: T) => Readonly<Record<string, number>>) => {
    new prom.Counter({
      name: prefix + name,
      help,
      labelNames: [label],
      registers: [registry],
      collect() {
        this.reset();
        for (const [key, n] of Object.entries(values(source()))) this.inc({ [label]: key }, n);
      },
    });
    names.push(prefix + name);
  };
  let watching: Subscription | null = null;
  const unregister = () => {
    watching?.unsubscribe();
    for (const name of names) registry.removeSingleMetric(name);
  };
  // All or nothing: a name already in the registry (a second call on it) throws prom-client's error, and leaves it as it was.
  try {
    register();
  } catch (err) {
    unregister();
    throw err;
  }
  return { names, unregister };

  function register(): void {
    if (o.server !== undefined) {
      const server = o.server;
      const m = oncePerScrape(() => server.metrics());
      gauge(m, 'open_sockets', 'Sockets open now.', (s) => s.open);
      counter(m, 'upgrades_accepted_total', 'Upgrades accepted (sockets opened).', (s) => s.upgrades.accepted);
      // Every reason is there from the start, at 0: a rate over a series that appears late misses its first refusals.
      labelled(m, 'upgrades_refused_total', 'Upgrades refused, by reason.', 'reason', (s) => s.upgrades.refused);
      counter(m, 'messages_received_total', 'Data frames read from peers.', (s) => s.messages.received);
      counter(m, 'messages_sent_total', 'Frames handed to connections (sent or queued).', (s) => s.messages.sent);
      counter(m, 'messages_refused_total', 'Frames refused (socket closed, outbound queue full, not a frame).', (s) => s.messages.refused);
      counter(m, 'messages_dropped_total', 'Frames dropped by the outbound policy or left unsent at the end.', (s) => s.messages.dropped);
      counter(m, 'messages_discarded_total', 'Frames read but not delivered (after a policy violation or terminate()).', (s) => s.messages.discarded);
      counter(m, 'received_bytes_total', 'Bytes read from the network by the sockets, headers and upgrades included.', (s) => s.bytes.received);
      counter(m, 'sent_bytes_total', 'Bytes written to the network by the sockets, headers and upgrades included.', (s) => s.bytes.sent);
      labelled(m, 'closes_total', 'Sockets closed, by close code (1000-1015) or class (3xxx, 4xxx, other).', 'code', (s) => s.closes);
      gauge(m, 'outbound_queued_bytes', 'Bytes accepted and not yet written, over all open sockets.', (s) => s.outbound.queuedBytes);
      gauge(m, 'outbound_queued_max_bytes', 'Bytes accepted and not yet written by the socket that has the most.', (s) => s.outbound.maxQueuedBytes);
      gauge(m, 'memory_budget_used_bytes', 'Bytes peers make the server hold (the memory budget in use); 0 when it is off.', (s) => s.memory?.used ?? 0);
      gauge(m, 'memory_budget_limit_bytes', 'The memory budget; 0 when it is off.', (s) => s.memory?.limit ?? 0);
      counter(m, 'memory_budget_evictions_total', 'Sockets closed (1008) to keep within the memory budget.', (s) => s.memory?.evictions ?? 0);
      counter(m, 'heartbeat_timeouts_total', 'Sockets terminated because a ping went unanswered.', (s) => s.heartbeatTimeouts);
      counter(m, 'rate_limited_total', 'Times a socket went over its rate limit (paused or closed).', (s) => s.rateLimited);
      gauge(m, 'sessions_open', 'Resumable sessions now, with their client or waiting for it; 0 without resume.', (s) => s.sessions?.open ?? 0);
      gauge(m, 'sessions_away', 'Resumable sessions waiting for their client to come back.', (s) => s.sessions?.away ?? 0);
      counter(m, 'sessions_resumed_total', 'Connections that resumed a session.', (s) => s.sessions?.resumed ?? 0);
      counter(m, 'sessions_expired_total', 'Sessions ended because their client did not come back within ttl.', (s) => s.sessions?.expired ?? 0);
      counter(m, 'sessions_evicted_total', 'Sessions evicted (maxSessions, memory budget).', (s) => s.sessions?.evicted ?? 0);
    }
    if (o.hub !== undefined) {
      const hub = o.hub;
      const status = { state: 'connecting' as string };
      watching = hub.status$.subscribe((s) => (status.state = s.state));
      const h = oncePerScrape(() => hub.stats);
      gauge(h, 'hub_topics', 'Topics with local members.', (s) => s.topics);
      gauge(h, 'hub_sockets', 'Local sockets in at least one topic.', (s) => s.sockets);
      counter(h, 'hub_published_total', 'Messages given to publish().', (s) => s.published);
      counter(h, 'hub_delivered_total', 'Frames handed to local members.', (s) => s.delivered);
      counter(h, 'hub_received_total', 'Messages that came from other processes.', (s) => s.received);
      counter(h, 'hub_adapter_published_total', 'Envelopes the broker acknowledged.', (s) => s.adapter.published);
      counter(h, 'hub_adapter_dropped_total', 'Envelopes given up (queue full, refused, or left at close).', (s) => s.adapter.dropped);
      gauge(h, 'hub_adapter_queued', 'Envelopes waiting for the broker.', (s) => s.adapter.queued);
      gauge(h, 'hub_adapter_lag_seconds', 'How long the oldest envelope waiting for the broker has waited.', (s) => (s.adapter.lag ?? 0) / 1000);
      gauge(() => status, 'hub_adapter_up', '1 while the adapter is connected to its broker, else 0.', (s) => (s.state === 'connected' ? 1 : 0));
    }
    if (o.client !== undefined) {
      const client = o.client;
      gauge(() => client, 'client_open', '1 while the client has an open connection, else 0.', (c) => (c.status.state === 'open' ? 1 : 0));
      counter(() => client.stats, 'client_messages_received_total', 'Frames the client received.', (s) => s.received);
      counter(() => client.stats, 'client_messages_sent_total', 'Frames the client handed to its connections.', (s) => s.sent);
      counter(() => client.stats, 'client_messages_dropped_total', 'Frames the client dropped.', (s) => s.dropped);
      gauge(() => client, 'client_buffered_bytes', 'Bytes the client holds: its offline queue and its buffer.', (c) => c.bufferedAmount);
    }
  }
}

/**
 * One reading per scrape: the registry collects every metric in one go (its
 * collect() callbacks run back to back, in microtasks), so the first takes
 * the snapshot and the others share it; it is forgotten at the next turn.
 */
function oncePerScrape<T>(read: () => T): Source<T> {
  let cached: { value: T } | null = null;
  return () => {
    if (cached === null) {
      cached = { value: read() };
      setImmediate(() => (cached = null));
    }
    return cached.value;
  };
}

function loadPromClient(): typeof Prom {
  try {
    return require('prom-client') as typeof Prom;
  } catch (err) {
    throw new MissingDependencyError('prom-client', 'prometheus()', { cause: err });
  }
}
