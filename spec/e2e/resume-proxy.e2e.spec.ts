/**
 * Resumable sessions through a TCP proxy that cuts every connection at
 * random, every 100–500 ms (real time): the server's session and the client
 * each send their own numbered stream at once, and each must get the other's
 * whole stream exactly once and in order, with no frame reported lost.
 */
import { filter, firstValueFrom, type Observable } from 'rxjs';
import { connect, type ClientStatus, type RxClient, type RxjsWsError, type RxSession } from '../../src';
import { listen } from '../support/net';
import { CuttingProxy } from '../support/proxy';
import { mulberry32 } from '../support/random';

/** Frames each way per run. */
const N = 10_000;
/** Frames a side sends per tick, and the ms between ticks: about 2 s of sending per run. */
const BURST = 50;
const TICK = 10;
const RUNS = 20;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The latest writable$ value of a sink, to pace a sender without ever overfilling its queue. */
function tracker(writable$: Observable<boolean>): { readonly now: boolean } {
  const state = { now: false };
  writable$.subscribe((w) => (state.now = w));
  return state;
}

/** Sends `prefix0` … `prefix{N-1}`, BURST per tick, each only while the sink takes it at once. */
async function sendAll(sink: { next(frame: string): void; readonly state: string }, writable: { readonly now: boolean }, prefix: string): Promise<void> {
  let i = 0;
  while (i < N) {
    if (sink.state === 'closed') throw new Error(`${prefix}: the sender closed at ${i}`);
    for (let k = 0; k < BURST && i < N && writable.now; k++) sink.next(prefix + i++);
    await sleep(TICK);
  }
}

/** Collects a stream of numbered frames, failing on the first one out of order. */
function collector(prefix: string) {
  const got = { count: 0, wrong: [] as string[] };
  let resolve!: () => void;
  const done = new Promise<void>((r) => (resolve = r));
  const take = (frame: unknown) => {
    const want = prefix + got.count;
    if (frame !== want) got.wrong.push(`#${got.count}: ${String(frame)} (wanted ${want})`);
    got.count++;
    if (got.count === N) resolve();
  };
  return { got, done, take };
}

/** Resolves when `done` does, or rejects after `ms` with what `state()` says. */
function within<T>(done: Promise<T>, ms: number, state: () => string): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out: ${state()}`)), ms)));
  return Promise.race([done, timeout]).finally(() => clearTimeout(timer));
}

describe('resume through a cutting proxy', () => {
  let proxy: CuttingProxy | null = null;
  let client: RxClient | null = null;
  const runs: string[] = [];

  afterAll(() => console.log(`resume through a cutting proxy:\n${runs.join('\n')}`));

  afterEach(async () => {
    client?.terminate();
    client = null;
    await proxy?.close();
    proxy = null;
  });

  it.each(Array.from({ length: RUNS }, (_, i) => i + 1))(
    'seed %i: 10,000 frames each way, exactly once and in order',
    async (seed) => {
      const started = Date.now();
      const { server, port } = await listen({ resume: { ttl: 10_000 } });
      const sessions: RxSession[] = [];
      const serverErrors: RxjsWsError[] = [];
      const fromClient = collector('c');
      server.sessions$.subscribe((session) => {
        sessions.push(session);
        session.errors$.subscribe((error) => serverErrors.push(error));
        session.messages$.subscribe(fromClient.take);
      });
      proxy = new CuttingProxy(port);
      const proxyPort = await proxy.listen();

      const c = (client = connect(`ws://127.0.0.1:${proxyPort}/ws`, {
        resume: true,
        reconnect: { initialDelay: 5, maxDelay: 20, minUptime: 0 },
      }));
      const clientErrors: RxjsWsError[] = [];
      const statuses: ClientStatus[] = [];
      c.errors$.subscribe((error) => clientErrors.push(error));
      c.status$.subscribe((status) => statuses.push(status));
      const fromServer = collector('s');
      c.messages$.subscribe(fromServer.take);

      await firstValueFrom(c.status$.pipe(filter((s) => s.state === 'open')));
      expect(sessions).toHaveLength(1);
      const session = sessions[0]!;

      proxy.cutEvery(100, 500, mulberry32(seed));
      const clientWritable = tracker(c.writable$);
      const sessionWritable = tracker(session.writable$);
      const state = () =>
        `client got ${fromServer.got.count}, server got ${fromClient.got.count}, cuts ${proxy!.cuts}, connections ${session.connections}, ` +
        `client ${c.state}/${c.status.state}, session ${session.state}, errors ${[...clientErrors, ...serverErrors].map((e) => e.message).join('; ')}`;
      await within(
        Promise.all([sendAll(c, clientWritable, 'c'), sendAll(session, sessionWritable, 's'), fromClient.done, fromServer.done]),
        30_000,
        state,
      );
      proxy.stop();

      expect(fromServer.got).toEqual({ count: N, wrong: [] });
      expect(fromClient.got).toEqual({ count: N, wrong: [] });
      expect(clientErrors).toEqual([]);
      expect(serverErrors).toEqual([]);
      expect(sessions).toHaveLength(1);
      expect(proxy.cuts).toBeGreaterThan(1);
      expect(session.connections).toBeGreaterThan(1);
      const opened = statuses.filter((s) => s.state === 'open').map((s) => s.session?.state);
      expect(opened[0]).toBe('new');
      expect(opened.slice(1)).toEqual(opened.slice(1).map(() => 'resumed'));
      expect(opened.length).toBe(session.connections);

      // The client ends the session on an open connection: the server's session closes with it, cleanly.
      // (A cut made just before stop() may not have been noticed yet: give both ends time to see it, and to reconnect.)
      await sleep(50);
      await within(firstValueFrom(c.status$.pipe(filter((s) => s.state === 'open'))), 5000, state);
      while (session.state !== 'open') await sleep(5);
      const sessionClosed = firstValueFrom(session.close$);
      c.close();
      const clientClose = await within(firstValueFrom(c.close$), 5000, state);
      const sessionClose = await within(sessionClosed, 5000, state);
      expect(clientClose.code).toBe(1000);
      expect(sessionClose.code).toBe(1000);
      expect(fromServer.got.count).toBe(N);
      expect(fromClient.got.count).toBe(N);
      expect(clientErrors).toEqual([]);
      expect(serverErrors).toEqual([]);
      await server.close({ timeout: 1000 });
      runs.push(`seed ${seed}: ${Date.now() - started} ms, ${proxy.cuts} cuts, ${session.connections} connections`);
    },
    45_000,
  );
});
