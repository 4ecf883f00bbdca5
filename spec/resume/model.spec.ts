/**
 * Model-based property test of the resumable-session state machine: two
 * `Link`s, the client's and the server's, joined by an in-memory wire this
 * test controls, in virtual time.
 *
 * fast-check draws each link's window and a sequence of commands: either
 * side's app sends a frame (text, text that starts with U+0000, binary, of
 * random size), frames in flight are delivered one way or the other, time
 * passes (acknowledgement timers fire), either side's connection stops or
 * starts taking frames (writable), and the connection is cut: whatever is in
 * flight is lost, both links detach, and a new connection begins as the real
 * client and server begin one (the client's hello with what it took, then
 * the server's welcome with what it took, then each link attached where the
 * other said it had got to).
 *
 * After every command, each side's delivered frames must be exactly a prefix
 * of what the other side's app sent (in order, none twice, none missing in
 * between), and each link's count must match what it delivered. After a
 * final quiet connection, everything must be delivered and acknowledged.
 * No protocol error may ever be raised.
 */
import fc from 'fast-check';
import { VirtualTimeScheduler } from 'rxjs';
import type { Message, Outbound, RxSession } from '../../src';
import { ACK_DELAY, handshakeFrame, Link, parseHandshake, type LinkConnection } from '../../src/resume/link';
import { resolveOutbound } from '../../src/socket/outbound-options';
import { assertModel, situations } from '../support/model';
import { bench } from '../support/resume';


type Side = 'c' | 's';
type Kind = 'text' | 'escaped' | 'binary';

type Command =
  | { readonly c: 'send'; readonly side: Side; readonly kind: Kind; readonly size: number }
  /** Delivers up to `count` frames in flight towards `to`. */
  | { readonly c: 'deliver'; readonly to: Side; readonly count: number }
  | { readonly c: 'tick'; readonly ms: number }
  | { readonly c: 'writable'; readonly side: Side; readonly writable: boolean }
  | { readonly c: 'cut' };

interface Scenario {
  readonly windows: { readonly c: number; readonly s: number };
  readonly commands: readonly Command[];
}

const sideArb = fc.constantFrom<Side>('c', 's');
const commandArb: fc.Arbitrary<Command> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ c: fc.constant('send' as const), side: sideArb, kind: fc.constantFrom<Kind>('text', 'text', 'escaped', 'binary'), size: fc.nat(60) }) },
  { weight: 8, arbitrary: fc.record({ c: fc.constant('deliver' as const), to: sideArb, count: fc.integer({ min: 1, max: 12 }) }) },
  { weight: 2, arbitrary: fc.record({ c: fc.constant('tick' as const), ms: fc.integer({ min: 1, max: 2 * ACK_DELAY }) }) },
  { weight: 2, arbitrary: fc.record({ c: fc.constant('writable' as const), side: sideArb, writable: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ c: fc.constant('cut' as const) }) },
);
const scenarioArb: fc.Arbitrary<Scenario> = fc.record({
  // From a window smaller than most frames (one frame at a time) to one that rarely fills.
  windows: fc.record({ c: fc.integer({ min: 1, max: 400 }), s: fc.integer({ min: 1, max: 400 }) }),
  commands: fc.array(commandArb, { minLength: 20, maxLength: 400, size: 'max' }),
});

class ModelViolation extends Error {}

/** How often each interesting situation came up (MODEL_STATS=1 prints it: a check on the generators, not on the links). */
const note = situations();

function check(ok: boolean, what: () => string): void {
  if (!ok) throw new ModelViolation(what());
}

/** What a delivered frame was sent as: binary frames compare by their bytes, marked. */
function canonical(frame: Message | Outbound): string {
  return typeof frame === 'string' ? frame : `<binary ${Buffer.from(frame as Uint8Array).toString()}>`;
}

/** One connection: what is in flight each way, lost if it is cut. */
class Connection {
  readonly toServer: Outbound[] = [];
  readonly toClient: Outbound[] = [];
  /** Each side's first frame is the handshake: the server reads a hello, the client a welcome. */
  readonly greeted = { c: false, s: false };
  state = 'open';

  end(side: Side): LinkConnection {
    const queue = side === 'c' ? this.toServer : this.toClient;
    const connection = this;
    return {
      next: (frame) => {
        if (connection.state === 'open') queue.push(frame);
      },
      get state() {
        return connection.state;
      },
    };
  }
}

class Harness {
  readonly scheduler = new VirtualTimeScheduler();
  links: Record<Side, Link>;
  readonly sent: Record<Side, string[]> = { c: [], s: [] };
  readonly delivered: Record<Side, string[]> = { c: [], s: [] };
  readonly writable: Record<Side, boolean> = { c: true, s: true };
  readonly counters = { c: 0, s: 0 };
  readonly #windows: Scenario['windows'];
  connection = new Connection();
  /** The session the server has (after a hello), and the one the client knows (after a welcome). */
  serverSession: string | null = null;
  clientSession: string | null = null;
  sessions = 0;
  /** Frames the server's app sent on sessions whose welcome never reached the client, and how many were reported. */
  readonly ghosts = { sent: 0, reported: 0 };

  constructor(windows: Scenario['windows']) {
    this.#windows = windows;
    this.links = { c: this.#link('c'), s: this.#link('s') };
    this.#open();
  }

  #link(side: Side): Link {
    const limits = resolveOutbound({ policy: 'error', maxMessages: 1_000_000, maxBytes: 1 << 30 });
    return new Link(this.#windows[side], limits, this.scheduler, {
      bye: () => check(false, () => `${side}: a bye nobody sent`),
      report: (error) => check(false, () => `${side}: frames dropped: ${error.message}`),
      changed: () => {},
    });
  }

  /** A new connection: the client says hello with the session it knows and what it took (as it does when a connection opens). */
  #open(): void {
    this.connection = new Connection();
    this.connection.end('c').next(handshakeFrame('H', { s: this.clientSession, r: this.links.c.received, w: this.links.c.maxBytes }));
  }

  send(side: Side, kind: Kind, size: number): void {
    if (side === 's' && this.serverSession === null) return; // no session yet for the server's app to send on
    const n = ++this.counters[side];
    const body = `${side}${n}${'.'.repeat(size)}`;
    const frame = kind === 'binary' ? Buffer.from(body) : kind === 'escaped' ? `\u0000${body}` : body;
    check(this.links[side].offer(frame) === 'queued', () => `${side}: ${body} not queued`);
    this.sent[side].push(canonical(frame));
  }

  /** Delivers up to `count` frames in flight towards `to`, as that side reads them. */
  deliver(to: Side, count: number): void {
    const connection = this.connection;
    const queue = to === 's' ? connection.toServer : connection.toClient;
    for (let i = 0; i < count && queue.length > 0 && this.connection === connection; i++) {
      const frame = queue.shift()!;
      if (!connection.greeted[to]) {
        connection.greeted[to] = true;
        this.#greeted(to, frame as string);
        continue;
      }
      const data = this.links[to].read(frame as Message);
      if (data !== undefined) this.delivered[to].push(canonical(data));
      else note(`control frame read: ${String(frame).slice(1, 2)}`);
    }
  }

  /** The server read the hello (it welcomes, then attaches), or the client the welcome (it attaches). */
  #greeted(side: Side, frame: string): void {
    const connection = this.connection;
    if (side === 's') {
      const hello = parseHandshake('H', frame);
      const resumed = hello.s !== null;
      check(!resumed || hello.s === this.serverSession, () => `a hello for ${hello.s}, the server has ${this.serverSession}`);
      if (!resumed) this.#newSession();
      const s = this.links.s;
      connection.end('s').next(handshakeFrame('W', { s: this.serverSession!, r: s.received, w: s.maxBytes, resumed }));
      s.attach(connection.end('s'), resumed ? hello.r : 0, hello.w);
      s.writable(this.writable.s);
    } else {
      const welcome = parseHandshake('W', frame);
      check(welcome.resumed === (this.clientSession !== null), () => `welcome resumed: ${welcome.resumed}, the client knew ${this.clientSession}`);
      this.clientSession = welcome.s;
      this.links.c.attach(connection.end('c'), welcome.r, welcome.w);
      this.links.c.writable(this.writable.c);
    }
  }

  /**
   * A hello without a session: the server begins one. If it had one, its welcome never reached the client
   * (the client sent nothing on it, and took nothing): what the server's app sent on it is lost, and reported.
   */
  #newSession(): void {
    if (this.serverSession !== null) {
      check(this.delivered.c.length === 0 && this.delivered.s.length === 0, () => 'a session the client used was dropped');
      const [unconfirmed, unsent] = this.links.s.clear();
      this.ghosts.sent += this.sent.s.length;
      this.ghosts.reported += unconfirmed + unsent;
      note('a session whose welcome was lost');
      this.sent.s.length = 0;
      this.links.s = this.#link('s');
    }
    this.serverSession = `session${++this.sessions}`;
  }

  setWritable(side: Side, writable: boolean): void {
    this.writable[side] = writable;
    // As the client and the session do: writable$ reaches the link once it is attached.
    if (this.links[side].attached) this.links[side].writable(writable);
  }

  tick(ms: number): void {
    const to = this.scheduler.frame + ms;
    this.scheduler.maxFrames = to;
    this.scheduler.flush();
    this.scheduler.frame = to;
  }

  /** The network fails: what is in flight is lost, both links detach; the client connects again at once. */
  cut(): void {
    note('cut');
    note('cut: frames lost in flight', this.connection.toServer.length + this.connection.toClient.length);
    if (!this.connection.greeted.c) note('cut before the welcome arrived');
    if (this.links.c.pending + this.links.s.pending > 0) note('cut with frames unacknowledged');
    this.connection.state = 'closed';
    this.links.c.detach();
    this.links.s.detach();
    this.#open();
  }

  /** Each side has exactly a prefix of what the other sent, and its link counts what it delivered. */
  checkPrefixes(where: string): void {
    for (const [to, from] of [['c', 's'], ['s', 'c']] as const) {
      const got = this.delivered[to];
      const sent = this.sent[from];
      const bad = got.findIndex((frame, i) => frame !== sent[i]);
      check(bad === -1 && got.length <= sent.length, () => `${where}: ${to} delivered [${got.slice(Math.max(0, bad - 2), bad + 3)}] at ${bad}, ${from} sent [${sent.slice(Math.max(0, bad - 2), bad + 3)}]`);
      check(this.links[to].received === got.length, () => `${where}: ${to} counts ${this.links[to].received}, delivered ${got.length}`);
    }
  }

  /** A last connection with nothing cut and both sides writable: everything arrives, and is acknowledged. */
  settle(): void {
    note('frames delivered before the quiet connection', this.delivered.c.length + this.delivered.s.length);
    note('frames sent', this.sent.c.length + this.sent.s.length);
    this.cut();
    this.setWritable('c', true);
    this.setWritable('s', true);
    for (let round = 0; round < 10_000; round++) {
      const busy = this.connection.toServer.length + this.connection.toClient.length > 0 || this.scheduler.actions.length > 0;
      if (!busy) break;
      this.deliver('s', Infinity);
      this.deliver('c', Infinity);
      this.checkPrefixes('settling');
      this.tick(ACK_DELAY);
    }
    for (const [to, from] of [['c', 's'], ['s', 'c']] as const) {
      check(this.delivered[to].length === this.sent[from].length, () => `after the quiet connection ${to} has ${this.delivered[to].length} of ${this.sent[from].length}`);
      check(this.links[from].pending === 0 && this.links[from].bytes === 0, () => `${from} still holds ${this.links[from].pending} frame(s)`);
    }
    check(this.scheduler.actions.length === 0, () => 'timers left');
    check(this.ghosts.reported === this.ghosts.sent, () => `${this.ghosts.sent} frame(s) sent on lost sessions, ${this.ghosts.reported} reported`);
  }
}

function run(scenario: Scenario): void {
  const h = new Harness(scenario.windows);
  let at = 0;
  try {
    for (; at < scenario.commands.length; at++) {
      const command = scenario.commands[at]!;
      switch (command.c) {
        case 'send':
          h.send(command.side, command.kind, command.size);
          break;
        case 'deliver':
          h.deliver(command.to, command.count);
          break;
        case 'tick':
          h.tick(command.ms);
          break;
        case 'writable':
          h.setWritable(command.side, command.writable);
          break;
        case 'cut':
          h.cut();
          break;
      }
      h.checkPrefixes(`after command ${at}`);
    }
    h.settle();
  } catch (e) {
    const trace = scenario.commands.slice(Math.max(0, at - 12), at + 1).map((c, i) => `  ${Math.max(0, at - 12) + i}: ${JSON.stringify(c)}`);
    throw new Error(`${(e as Error).message}\n  windows ${JSON.stringify(scenario.windows)}\n${trace.join('\n')}`, { cause: e });
  }
}

describe('two Links on a wire that is cut at random (fast-check)', () => {
  it('each side delivers exactly the other’s frames, in order, once; after a quiet connection, all of them', () => {
    // A fixed seed, 300 runs; MODEL_SEED, MODEL_RUNS and MODEL_PATH explore further or replay (spec/support/model.ts).
    assertModel(fc.property(scenarioArb, run), 20261202, 300);
  });

  it('a cut with everything in flight both ways, twice over, on one-frame windows', () => {
    const sends = (side: Side, n: number): Command[] => Array.from({ length: n }, () => ({ c: 'send', side, kind: 'text', size: 5 }));
    run({
      windows: { c: 1, s: 1 },
      commands: [
        { c: 'deliver', to: 's', count: 1 },
        { c: 'deliver', to: 'c', count: 1 },
        ...sends('c', 3),
        ...sends('s', 3),
        { c: 'deliver', to: 's', count: 1 },
        { c: 'cut' },
        { c: 'deliver', to: 's', count: 1 },
        { c: 'deliver', to: 'c', count: 2 },
        { c: 'cut' },
      ],
    });
  });
});

// ---------------------------------------------------------------------------------------------
// The same property one level up: connect() and a SessionRegistry over in-memory connections

type BenchCommand =
  | { readonly c: 'send'; readonly side: Side; readonly count: number }
  | { readonly c: 'tick'; readonly ms: number }
  /** The network fails: both ends see it (`both`), or only the client's, and the server's end lingers until the client is back. */
  | { readonly c: 'cut'; readonly both: boolean }
  /** That end's TCP socket is full (the next frame waits in the connection's queue), or drains. */
  | { readonly c: 'tcp'; readonly side: Side; readonly full: boolean };

const benchCommandArb: fc.Arbitrary<BenchCommand> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ c: fc.constant('send' as const), side: sideArb, count: fc.integer({ min: 1, max: 6 }) }) },
  { weight: 6, arbitrary: fc.record({ c: fc.constant('tick' as const), ms: fc.integer({ min: 1, max: 40 }) }) },
  { weight: 1, arbitrary: fc.record({ c: fc.constant('cut' as const), both: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ c: fc.constant('tcp' as const), side: sideArb, full: fc.boolean() }) },
);
const benchScenarioArb = fc.record({
  windows: fc.record({ c: fc.integer({ min: 1, max: 400 }), s: fc.integer({ min: 1, max: 400 }) }),
  latency: fc.integer({ min: 1, max: 5 }),
  commands: fc.array(benchCommandArb, { minLength: 10, maxLength: 150, size: 'max' }),
});

function runBench({ windows, latency, commands }: { windows: Scenario['windows']; latency: number; commands: readonly BenchCommand[] }): void {
  const scheduler = new VirtualTimeScheduler();
  const advance = (ms: number) => {
    const to = scheduler.frame + ms;
    scheduler.maxFrames = to;
    scheduler.flush();
    scheduler.frame = to;
  };
  const b = bench(scheduler, { maxBytes: windows.s, ttl: 1_000_000 }, latency);
  const client = b.client({ resume: { maxBytes: windows.c }, reconnect: { initialDelay: 10, jitter: 'none', factor: 1 } });
  const sent = { c: [] as string[], s: [] as string[] };
  const got = { c: [] as string[], s: [] as string[] };
  const errors: string[] = [];
  const closes: number[] = [];
  let session: RxSession | null = null;
  let open = false;
  client.messages$.subscribe((m) => got.c.push(String(m)));
  client.errors$.subscribe((e) => errors.push(`client: ${e.message}`));
  client.close$.subscribe((info) => closes.push(info.code));
  client.status$.subscribe((s) => {
    if (s.state !== 'open') return;
    open = true;
    note(`client open: ${s.session?.state}`);
  });
  b.registry.sessions$.subscribe((s) => {
    // A session whose welcome never reached the client (it asks for a new one): its app never sent on it.
    session = s;
    s.messages$.subscribe((m) => got.s.push(String(m)));
    s.errors$.subscribe((e) => errors.push(`server: ${e.message}`));
    s.close$.subscribe((info) => closes.push(info.code));
  });
  const checkPrefixes = (where: string) => {
    for (const [to, from] of [['c', 's'], ['s', 'c']] as const) {
      const bad = got[to].findIndex((frame, i) => frame !== sent[from][i]);
      check(bad === -1 && got[to].length <= sent[from].length, () => `${where}: ${to} got [${got[to].slice(Math.max(0, bad - 2), bad + 3)}] at ${bad}`);
    }
    check(errors.length === 0, () => `${where}: ${errors.join('; ')}`);
  };
  const line = () => b.last();
  let at = 0;
  try {
    for (; at < commands.length; at++) {
      const command = commands[at]!;
      switch (command.c) {
        case 'send':
          for (let i = 0; i < command.count; i++) {
            // The server's app sends on the session its client knows: once the client has been open.
            if (command.side === 's' && !open) break;
            const frame = `${command.side}${sent[command.side].length + 1}`;
            sent[command.side].push(frame);
            (command.side === 'c' ? client : session!).next(frame);
          }
          break;
        case 'tick':
          advance(command.ms);
          break;
        case 'cut':
          if (b.lines.length === 0) break;
          note(`cut (${command.both ? 'both ends' : 'the client only'})`);
          if (command.both) line().cut();
          else {
            line().dead = true;
            line().client.drop();
          }
          break;
        case 'tcp': {
          if (b.lines.length === 0) break;
          const ws = command.side === 'c' ? line().client : line().server;
          if (command.full) ws._socket.writableNeedDrain = true;
          else ws._socket.drain();
          break;
        }
      }
      checkPrefixes(`after command ${at}`);
    }
    // A quiet end: no more cuts, every TCP socket drained, time to deliver and acknowledge. (An acknowledgement
    // stuck behind a full TCP socket when the peer's close frame comes is lost: ws answers a close at once.)
    const delivered = () => got.c.length === sent.s.length && got.s.length === sent.c.length;
    for (let round = 0, quiet = 0; round < 100 && quiet < 2; round++) {
      for (const l of b.lines) for (const ws of [l.client, l.server]) if (ws._socket.writableNeedDrain) ws._socket.drain();
      advance(50);
      if (delivered()) quiet++;
    }
    checkPrefixes('after the quiet end');
    check(delivered(), () => `at the end the client has ${got.c.length} of ${sent.s.length}, the server ${got.s.length} of ${sent.c.length}`);
    note('frames delivered', got.c.length + got.s.length);
    client.close();
    advance(100);
    check(closes.join() === '1000,1000', () => `closes: ${closes.join()}`);
    checkPrefixes('after the close');
  } catch (e) {
    const trace = commands.slice(Math.max(0, at - 12), at + 1).map((c, i) => `  ${Math.max(0, at - 12) + i}: ${JSON.stringify(c)}`);
    throw new Error(`${(e as Error).message}\n  windows ${JSON.stringify(windows)}, latency ${latency}\n${trace.join('\n')}`, { cause: e });
  } finally {
    client.terminate();
  }
}

describe('connect() and a SessionRegistry on in-memory connections cut at random (fast-check)', () => {
  it('each side gets exactly the other’s frames, in order, once, with no error reported; all of them after a quiet end; then a clean close', () => {
    assertModel(fc.property(benchScenarioArb, runBench), 20261203, 150);
  });
});
