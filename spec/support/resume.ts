import type { SchedulerLike } from 'rxjs';
import { WebSocket } from 'ws';
import { connect, RxSocket, type ConnectOptions, type RxClient, type WebSocketFactory } from '../../src';
import { RESUME_PROTOCOL } from '../../src/resume/link';
import { SessionRegistry, type RegistryConfig } from '../../src/resume/registry';
import { resolveOutbound } from '../../src/socket/outbound-options';
import { FakeWebSocket, type WireEvent } from '../../src/testing/fake-ws';

/** A client's end of an in-memory connection: what `connect()` constructs as its `WebSocket`. */
export class DialedWs extends FakeWebSocket {
  /** The subprotocol the server selected (set just before it opens). */
  protocol = '';
  constructor(
    readonly url: string,
    readonly protocols: string[],
    readonly options: unknown,
  ) {
    super(WebSocket.CONNECTING);
  }
}

/** A server's end: a `FakeWebSocket` that says which subprotocol it negotiated. */
export class AcceptedWs extends FakeWebSocket {
  constructor(readonly protocol: string) {
    super(WebSocket.OPEN);
  }
}

/** One in-memory connection between a client and the server side: each thing put on the wire arrives `latency` ms later, unless cut first. */
export class Line {
  /** Cut: what is still in flight is lost, and both ends closed with 1006. */
  dead = false;
  /** Everything each end put on the wire, with its (virtual) time. */
  readonly fromClient: { at: number; event: WireEvent }[] = [];
  readonly fromServer: { at: number; event: WireEvent }[] = [];
  socket: RxSocket | null = null;

  constructor(
    readonly client: DialedWs,
    readonly server: AcceptedWs,
    scheduler: SchedulerLike,
    latency: number,
  ) {
    const carry = (log: { at: number; event: WireEvent }[], to: FakeWebSocket) => (event: WireEvent) => {
      log.push({ at: scheduler.now(), event });
      scheduler.schedule(() => {
        if (!this.dead) deliver(to, event);
      }, latency);
    };
    client.onWire = carry(this.fromClient, server);
    server.onWire = carry(this.fromServer, client);
  }

  /** The network fails: nothing in flight arrives, both ends see 1006. */
  cut(): void {
    if (this.dead) return;
    this.dead = true;
    this.client.drop();
    this.server.drop();
  }

  /** Text frames each end sent, in order. */
  get clientText(): string[] {
    return texts(this.fromClient);
  }

  get serverText(): string[] {
    return texts(this.fromServer);
  }
}

function texts(log: { event: WireEvent }[]): string[] {
  return log.flatMap(({ event }) => (typeof event === 'string' ? [event] : []));
}

function deliver(to: FakeWebSocket, event: WireEvent): void {
  if (typeof event === 'string' || Buffer.isBuffer(event)) to.receive(event);
  else if ('ping' in event) to.receivePing();
  else if ('close' in event) to.receiveClose(event.close, event.reason ?? '');
  else to.drop();
}

export interface Bench {
  readonly registry: SessionRegistry<undefined>;
  /** Every connection the client dialled, in order. */
  readonly lines: Line[];
  /** Sockets of connections that did not negotiate resume (a plain server, or a plain client). */
  readonly plain: RxSocket[];
  /** A client of this bench, in virtual time. */
  client(options?: ConnectOptions): RxClient<RxSocket>;
  /** The latest connection. */
  last(): Line;
  /** While down, new connections are refused (1006, as a refused TCP connect). */
  down: boolean;
  /** A new server in its place (a restart): it knows none of the old sessions. */
  restart(config?: Partial<RegistryConfig>): void;
  /** The server offers resume (default) or is a plain server. */
  resume: boolean;
}

/** Registry defaults for the bench: short ttl, no memory budget. */
export function registryConfig(scheduler: SchedulerLike, config: Partial<RegistryConfig> = {}): RegistryConfig {
  return {
    ttl: 1000,
    maxBytes: 1024 * 1024,
    maxSessions: 100,
    outbound: resolveOutbound(undefined),
    inboundHold: 1024,
    helloTimeout: 500,
    scheduler,
    budget: null,
    ...config,
  };
}

/**
 * A resume server (its `SessionRegistry`, as `serve({ resume })` has it) and
 * in-memory connections to it, all in the virtual time of `scheduler`: a
 * connection opens `latency` ms after it is dialled.
 */
export function bench(scheduler: SchedulerLike, config: Partial<RegistryConfig> = {}, latency = 1): Bench {
  const lines: Line[] = [];
  const plain: RxSocket[] = [];
  const b: Bench = {
    registry: new SessionRegistry<undefined>(registryConfig(scheduler, config)),
    lines,
    plain,
    down: false,
    resume: true,
    last: () => lines[lines.length - 1]!,
    restart: (more = {}) => {
      (b as { registry: SessionRegistry<undefined> }).registry = new SessionRegistry<undefined>(registryConfig(scheduler, { ...config, ...more }));
    },
    client: (options = {}) =>
      connect('ws://bench.test/ws', {
        heartbeat: false,
        reconnect: { initialDelay: 10, jitter: 'none', factor: 1 },
        scheduler,
        WebSocket: Dialer as unknown as WebSocketFactory,
        ...options,
      }),
  };
  class Dialer extends DialedWs {
    constructor(url: string, protocols: string[], options: unknown) {
      super(url, protocols, options);
      const client = this;
      scheduler.schedule(() => {
        if (b.down) {
          client.emit('error', Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }));
          return client.drop();
        }
        if (client.readyState !== WebSocket.CONNECTING) return;
        const protocol = b.resume && protocols.includes(RESUME_PROTOCOL) ? RESUME_PROTOCOL : (protocols.find((p) => !p.startsWith('rxjs-ws.resume.')) ?? '');
        const server = new AcceptedWs(protocol);
        const line = new Line(client, server, scheduler, latency);
        lines.push(line);
        // As serve() makes it: a resume connection's unsent frames are the session's to send again.
        const onUnsent = protocol === RESUME_PROTOCOL ? () => {} : undefined;
        const socket = (line.socket = new RxSocket(server as unknown as WebSocket, { heartbeat: false, onUnsent }));
        if (protocol === RESUME_PROTOCOL) b.registry.accept(socket);
        else plain.push(socket);
        client.protocol = protocol;
        client.open();
      }, latency);
    }
  }
  return b;
}
