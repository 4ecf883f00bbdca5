/**
 * Sessions that outlive their server process: two server processes (the
 * built library, spec/e2e/peers/resume-hub-server.js) on one real
 * redis-server with topic history, a client with `resume` behind a
 * CuttingProxy (the load balancer), and this process publishing to the
 * topic as a third one. The client's server is killed with SIGKILL; the
 * balancer sends the client to the other server, where its session begins
 * anew in the same lineage and its topic resumes from the position the dead
 * process stored.
 */
import { filter, firstValueFrom } from 'rxjs';
import { connect, createHub, redisAdapter, type ClientStatus, type Hub, type RxClient } from '../../src';
import { deadPort, delay, waitUntil } from '../support/net';
import { CuttingProxy } from '../support/proxy';
import { startRedis, type RedisServer } from './peers/redis-server';
import { startResumeHub, type ResumeHubOptions, type ResumeHubProcess } from './peers/resume-hub-process';

const TTL = 3000;
const POSITIONS_INTERVAL = 100;
const HISTORY = { maxLen: 50, maxAge: 60_000 };
/** How long stored positions outlive the process that stored them, at most: ttl + renewal (ttl / 4) + interval. */
const POSITIONS_LIVE = TTL + TTL / 4 + POSITIONS_INTERVAL;

describe('a session\'s topics across server processes (SIGKILL, Redis history)', () => {
  let redis: RedisServer;
  let options: ResumeHubOptions;
  let publisher: Hub;
  const processes: ResumeHubProcess[] = [];
  const clients: RxClient[] = [];
  const proxies: CuttingProxy[] = [];

  beforeAll(async () => {
    redis = await startRedis();
    options = { redisUrl: redis.url, ttl: TTL, positionsInterval: POSITIONS_INTERVAL, ...HISTORY };
    // The third process: it only publishes, and trims the history as the servers would.
    publisher = createHub({ adapter: redisAdapter({ url: redis.url, history: HISTORY }) });
    await firstValueFrom(publisher.status$.pipe(filter((s) => s.state === 'connected')));
  });
  afterEach(async () => {
    for (const client of clients.splice(0)) client.close();
    await Promise.all(proxies.splice(0).map((proxy) => proxy.close()));
    await Promise.all(processes.splice(0).map((p) => p.kill()));
  });
  afterAll(async () => {
    await publisher?.close();
    await redis?.stop();
  });

  const server = async () => {
    const started = await startResumeHub(options);
    processes.push(started);
    return started;
  };

  /** A client behind a proxy to `to`, once its session is on and has read where `room` stands. */
  const client = async (to: ResumeHubProcess) => {
    const proxy = new CuttingProxy(to.port);
    proxies.push(proxy);
    const url = `ws://127.0.0.1:${await proxy.listen()}/ws`;
    const mark = to.lines.length;
    const c = connect(url, { resume: true, reconnect: { initialDelay: 50, maxDelay: 100, jitter: 'none' } });
    clients.push(c);
    const got: string[] = [];
    const statuses: ClientStatus[] = [];
    c.messages$.subscribe((m) => got.push(String(m)));
    c.status$.subscribe((s) => statuses.push(s));
    await to.waitForLine(/^topics \S+ -$/, mark);
    await delay(300); // its first read of the topic
    return { proxy, got, statuses, sessionOpen: () => statuses.filter((s) => s.state === 'open').at(-1)?.session };
  };

  const range = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${i}`);
  const publish = (messages: readonly string[]) => {
    for (const m of messages) publisher.publish('room', m);
  };

  /** Kills `dead` while its client is cut off from every server (the proxy points nowhere). */
  const crash = async (dead: ResumeHubProcess, proxy: CuttingProxy) => {
    proxy.retarget(await deadPort());
    await dead.kill();
  };

  it('gives the client what was published during the outage after it resumes on the other process: in order, once, then live', async () => {
    const [a, b] = [await server(), await server()];
    const { proxy, got, sessionOpen } = await client(a);
    publish(range('a', 10));
    await waitUntil(() => got.length === 10, 'the messages before the crash');
    await delay(3 * POSITIONS_INTERVAL); // acknowledged, and stored

    await crash(a, proxy);
    publish(range('b', 20)); // during the outage
    await delay(200);
    const mark = b.lines.length;
    proxy.retarget(b.port);

    const line = await b.waitForLine(/^session /, mark);
    expect(line).toMatch(/^session \S+ \S+ unknown$/);
    await waitUntil(() => got.length === 30, 'the outage\'s messages');
    expect(sessionOpen()).toEqual({ state: 'new', why: 'unknown' });
    await b.waitForLine(/^topics \S+ room$/, mark);
    publish(range('c', 5));
    await waitUntil(() => got.length === 35, 'live messages');
    await delay(300); // room for a duplicate
    expect(got).toEqual([...range('a', 10), ...range('b', 20), ...range('c', 5)]);
  });

  it('beyond the stream\'s length: the client gets what it still holds, in order, told of the gap first', async () => {
    const [a, b] = [await server(), await server()];
    const { proxy, got } = await client(a);
    publish(['first']);
    await waitUntil(() => got.length === 1, 'the first message');
    await delay(3 * POSITIONS_INTERVAL);

    await crash(a, proxy);
    const outage = range('m', 300);
    publish(outage);
    await delay(200);
    proxy.retarget(b.port);

    await waitUntil(() => got.at(-1) === 'm299', 'the newest message');
    const [first, gap, ...kept] = got;
    expect(first).toBe('first');
    // Redis trims in whole blocks: at least maxLen stay.
    expect(kept.length).toBeGreaterThanOrEqual(HISTORY.maxLen);
    expect(kept).toEqual(outage.slice(outage.length - kept.length));
    expect(gap).toBe(`gap:${outage.length - kept.length}`);
  });

  it('beyond the ttl: the client is told it began a new session, and gets no history', async () => {
    const [a, b] = [await server(), await server()];
    const { proxy, got, sessionOpen } = await client(a);
    publish(['before']);
    await waitUntil(() => got.length === 1, 'the first message');
    await delay(3 * POSITIONS_INTERVAL);

    await crash(a, proxy);
    publish(['during']);
    await delay(POSITIONS_LIVE + 500); // the stored positions have expired
    const mark = b.lines.length;
    proxy.retarget(b.port);
    await b.waitForLine(/^topics \S+ -$/, mark); // nothing stored any more
    expect(sessionOpen()).toEqual({ state: 'new', why: 'unknown' });
    await delay(300);
    publish(['after']);
    await waitUntil(() => got.includes('after'), 'a live message');
    await delay(200);
    expect(got).toEqual(['before', 'after']);
  });

  it('a graceful stop hands the sessions off with their positions exactly: nothing repeated, nothing lost', async () => {
    const [a, b] = [await server(), await server()];
    const { proxy, got, sessionOpen } = await client(a);
    publish(range('x', 200));
    await waitUntil(() => got.length === 200, 'the messages before the stop');
    proxy.retarget(b.port);
    const mark = b.lines.length;
    // At once: the client's last acknowledgements may not have reached the server. SIGTERM: the hub stores where
    // each session is (what it handed over and was not confirmed too), the server closes the connections with 1001
    // and without the session's bye, so the client comes back with its session.
    expect(await a.stop()).toBe(0);
    publish(range('y', 5));
    await b.waitForLine(/^topics \S+ room$/, mark);
    await waitUntil(() => got.length >= 205, 'the messages after the stop');
    await delay(300);
    expect(got).toEqual([...range('x', 200), ...range('y', 5)]);
    expect(sessionOpen()).toEqual({ state: 'new', why: 'unknown' });
  });
});
