/**
 * How a hub merges a topic's history with what comes live, for a session:
 * against an adapter whose history the test writes and whose live messages
 * the test sends, so every interleaving is chosen here (the same with a real
 * Redis is history.spec.ts). Real sessions: a server with resume and a
 * client.
 */
import { filter, firstValueFrom, of } from 'rxjs';
import { connect, type RxClient, type RxjsWsError, type RxSession } from '../../src';
import type { AdapterHost, HistoryLink, HistoryPage, HistoryPosition, HubEnvelope, PositionChanges, StoredPositions } from '../../src/hub/adapter';
import { History, HistoryGapError } from '../../src/hub/history';
import { createHub, type Hub } from '../../src/hub/hub';
import { delay, listen, waitUntil } from '../support/net';
import { CuttingProxy } from '../support/proxy';

/** A topic's history kept here: entry ids `<base + n>-0`; a read sees it as it is when asked, and answers when `gate` lets it. */
class FakeHistory implements HistoryLink {
  readonly entries: HubEnvelope[] = [];
  counter = 0;
  base = 1000;
  #seq = 0;
  readonly stored = new Map<string, { owner: string | null; topics: Map<string, HistoryPosition>; pending: StoredPositions['pending'] }>();
  /** Reads fail while this is positive (each failure counts it down). */
  failures = 0;
  /** Reads wait for this, if set. */
  gate: Promise<void> | null = null;
  readonly reads: (string | null)[] = [];

  /** Adds a message and returns it as it would come live. */
  add(text: string): HubEnvelope {
    const n = ++this.counter;
    const envelope: HubEnvelope = { origin: 'f'.repeat(32), seq: ++this.#seq, topic: 'room', kind: 'text', payload: Buffer.from(text), count: 0, entry: { id: `${this.base + n}-0`, n } };
    this.entries.push(envelope);
    return envelope;
  }

  /** Keeps the newest `count` messages. */
  trim(count: number): void {
    this.entries.splice(0, Math.max(0, this.entries.length - count));
  }

  async read(_topic: string, after: HistoryPosition | null, count: number): Promise<HistoryPage> {
    this.reads.push(after?.id ?? null);
    const failed = this.failures > 0;
    if (failed) this.failures--;
    const last = this.entries.at(-1)?.entry;
    const head = { id: last?.id ?? '0-0', n: this.counter };
    const from = after === null ? Infinity : Number(after.id.split('-')[0]);
    const entries = this.entries.filter((e) => Number(e.entry!.id.split('-')[0]) > from).slice(0, count);
    await this.gate;
    if (failed) throw new Error('unreachable');
    return { entries, head };
  }

  async claim(key: string, owner: string): Promise<StoredPositions | null> {
    const stored = this.stored.get(key);
    if (stored === undefined) return null;
    const before = { ...stored, topics: new Map(stored.topics) };
    stored.owner = owner;
    stored.pending = [];
    return before;
  }

  async store(key: string, owner: string, changes: PositionChanges): Promise<boolean> {
    let stored = this.stored.get(key);
    if (stored !== undefined && stored.owner !== null && stored.owner !== owner) return false;
    if (stored === undefined) this.stored.set(key, (stored = { owner, topics: new Map(), pending: [] }));
    stored.owner = owner;
    for (const [topic, position] of changes.set) stored.topics.set(topic, position);
    for (const topic of changes.remove) stored.topics.delete(topic);
    if (changes.pending !== undefined) stored.pending = changes.pending;
    return true;
  }

  async release(key: string): Promise<void> {
    this.stored.delete(key);
  }
}

describe('a session\'s topic: history, then live', () => {
  const hubs: Hub[] = [];
  const clients: RxClient[] = [];
  const proxies: CuttingProxy[] = [];
  afterEach(async () => {
    for (const client of clients.splice(0)) client.close();
    await Promise.all(proxies.splice(0).map((proxy) => proxy.close()));
    await Promise.all(hubs.splice(0).map((hub) => hub.close()));
  });

  /** A hub whose adapter has `history`; `live()` sends a message as the broker would. */
  const setup = async (history = new FakeHistory()) => {
    let host!: AdapterHost;
    const hub = createHub({
      adapter: {
        open: (h) => {
          host = h;
          return {
            shared: true,
            status$: of({ state: 'connected' as const, attempts: 0 }),
            stats: { published: 0, received: 0, queued: 0, dropped: 0, refused: 0 },
            subscribe: (topic) => void setTimeout(() => host.subscribed([topic]), 5),
            unsubscribe: () => {},
            publish: () => {},
            close: async () => {},
            history,
          };
        },
      },
      positionsInterval: 20,
    });
    hubs.push(hub);
    const errors: RxjsWsError[] = [];
    hub.errors$.subscribe((error) => errors.push(error));
    const { server, port } = await listen({ path: '/ws', resume: { ttl: 2000 } });
    const sessions: RxSession[] = [];
    server.sessions$.subscribe((session) => {
      sessions.push(session);
      hub.join(session, 'room');
    });
    return { hub, history, errors, sessions, port, live: (envelope: HubEnvelope) => host.receive(envelope) };
  };

  const client = async (port: number) => {
    const proxy = new CuttingProxy(port);
    proxies.push(proxy);
    const c = connect(`ws://127.0.0.1:${await proxy.listen()}/ws`, { resume: true, reconnect: { initialDelay: 10, maxDelay: 20 } });
    clients.push(c);
    const got: string[] = [];
    c.messages$.subscribe((m) => got.push(String(m)));
    await firstValueFrom(c.status$.pipe(filter((s) => s.state === 'open')));
    return { got, proxy };
  };

  it('a session that left its last topic and then ended leaves no track behind: hub.close() stores nothing for it', async () => {
    const { hub, history, port, sessions } = await setup();
    const { got } = await client(port);
    await waitUntil(() => history.reads.length === 1);
    await waitUntil(() => history.stored.size === 1); // its position in 'room', stored at the first flush
    expect(got).toEqual([]);
    hub.leave(sessions[0]!, 'room');
    clients.splice(0).forEach((c) => c.close());
    await firstValueFrom(sessions[0]!.close$);
    await hub.close();
    expect([...history.stored.keys()]).toEqual([]);
  });

  it('starts a new session at the head: what came before is not its, what comes live is', async () => {
    const { history, live, port, errors } = await setup();
    history.add('old');
    const { got } = await client(port);
    await waitUntil(() => history.reads.length === 1);
    await delay(20);
    live(history.add('new'));
    await waitUntil(() => got.length === 1);
    expect(got).toEqual(['new']);
    expect(history.reads).toEqual([null]);
    expect(errors).toEqual([]);
  });

  it('holds what comes live during the read, drops what the read covered by entry id, and hands over the rest in order', async () => {
    const { history, live, port, errors } = await setup();
    let open!: () => void;
    history.gate = new Promise((resolve) => (open = resolve));
    const [one, two] = [history.add('1'), history.add('2')]; // the past when the session begins
    const { got } = await client(port);
    await waitUntil(() => history.reads.length === 1); // sees the head at 2, answers when the gate opens
    live(one); // late
    live(two);
    live(history.add('3'));
    live(history.add('4'));
    open();
    await waitUntil(() => got.length === 2);
    live(history.add('5'));
    await waitUntil(() => got.length === 3);
    await delay(50);
    expect(got).toEqual(['3', '4', '5']);
    expect(errors).toEqual([]);
  });

  it('reads the history when a live message skips ahead, and reports nothing when the history has them', async () => {
    const { history, live, port, errors } = await setup();
    const { got } = await client(port);
    await waitUntil(() => history.reads.length === 1);
    await delay(20);
    live(history.add('1'));
    history.add('2'); // lost on the way (a subscriber's reconnect, a full output buffer)
    history.add('3');
    live(history.add('4'));
    await waitUntil(() => got.length === 4);
    expect(got).toEqual(['1', '2', '3', '4']);
    expect(history.reads).toEqual([null, '1001-0']);
    expect(errors).toEqual([]);
  });

  it('reports how many the history lost, and hands over what it kept', async () => {
    const { history, live, port, errors, sessions } = await setup();
    const { got } = await client(port);
    await waitUntil(() => history.reads.length === 1);
    await delay(20);
    live(history.add('1'));
    for (let i = 2; i <= 9; i++) history.add(String(i));
    history.trim(3); // 7, 8, 9 remain
    live(history.add('10'));
    await waitUntil(() => got.length === 5);
    expect(got).toEqual(['1', '7', '8', '9', '10']);
    expect(errors).toEqual([expect.any(HistoryGapError)]);
    expect(errors[0]).toMatchObject({ topic: 'room', missed: 5, session: sessions[0], code: 'RXJS_WS_HISTORY_GAP' });
  });

  it('reports an unknown number when the topic\'s history began again, and goes on from there', async () => {
    const { history, live, port, errors } = await setup();
    const { got } = await client(port);
    await waitUntil(() => history.reads.length === 1);
    await delay(20);
    live(history.add('1'));
    live(history.add('2'));
    await waitUntil(() => got.length === 2);
    // Deleted and begun again (its counter too): numbers start over, ids go on.
    history.entries.splice(0);
    history.counter = 0;
    history.base = 2000;
    live(history.add('again'));
    await waitUntil(() => got.length === 3);
    live(history.add('next'));
    await waitUntil(() => got.length === 4);
    expect(got).toEqual(['1', '2', 'again', 'next']);
    expect(errors.map((e) => (e as HistoryGapError).missed)).toEqual([null]);
  });

  it('reads again after a failed read, with a growing delay', async () => {
    const history = new FakeHistory();
    history.failures = 2;
    const { live, port, errors } = await setup(history);
    history.add('before');
    const { got } = await client(port);
    await waitUntil(() => history.reads.length === 3, undefined, 2000); // 100 ms, then 200 ms later
    await delay(20);
    live(history.add('after'));
    await waitUntil(() => got.length === 1);
    expect(got).toEqual(['after']);
    expect(errors).toEqual([]);
  });

  it('stores a position once the client confirmed it, and a moved session starts where its client says it was', async () => {
    const { history, live, port, sessions, hub } = await setup();
    const { got, proxy } = await client(port);
    await waitUntil(() => history.reads.length === 1);
    await delay(20);
    for (let i = 1; i <= 5; i++) live(history.add(String(i)));
    await waitUntil(() => got.length === 5);
    const key = History.tag(sessions[0]!);
    await waitUntil(() => history.stored.get(key)?.topics.get('room')?.n === 5);

    // Stored as if it had not been confirmed: handed over, pending at marks 1–5, the client having taken 3.
    history.stored.set(key, {
      owner: sessions[0]!.id,
      topics: new Map([['room', { id: '1000-0', n: 0 }]]),
      pending: [1, 2, 3, 4, 5].map((n) => ({ mark: n, topic: 'room', position: { id: `${1000 + n}-0`, n } })),
    });
    // The second server does not know the session: the client's hello says it took 5 frames, so all five count.
    const other = await setup(history);
    proxy.retarget(other.port);
    proxy.cut();
    await waitUntil(() => other.sessions.length === 1);
    expect(other.sessions[0]!.predecessor).toMatchObject({ id: sessions[0]!.id, received: 5 });
    live(history.add('6'));
    other.live(history.entries.at(-1)!);
    await waitUntil(() => got.length === 6);
    await delay(50);
    expect(got).toEqual(['1', '2', '3', '4', '5', '6']);
    expect(history.reads.at(-1)).toBe('1005-0');
    expect(hub.members('room').size).toBe(1);
  });
});
