/**
 * The chat example on a real redis-server that stops answering: Redis is
 * frozen with SIGSTOP for 15 s (its connections stay up: nothing tells the
 * chat it is gone) while one client of chat process A floods 4 KB messages.
 * Everything A publishes waits for Redis. A's RSS must stay bounded, and once
 * Redis is back (SIGCONT) a message from A reaches a client of process B.
 *
 * The bound asserted: A's RSS grows by at most 64 MiB. A bounded chat holds,
 * whatever its clients do, at most the hub's Redis queue (8 MiB and 10,000
 * messages by default, in flight included) plus what one client may push
 * through its rate limit in those 15 s (under 1 MiB), each byte maybe twice
 * (the queued envelope, and the same bytes in the socket's write buffer). 64
 * MiB leaves V8 its slack and is far below what an unbounded queue reaches:
 * a client that writes 4 KB messages as fast as it can pushes hundreds of
 * MiB in 15 s.
 */
import { performance } from 'node:perf_hooks';
import { WebSocket } from 'ws';
import { startRedis, type RedisServer } from '../e2e/peers/redis-server';
import { redisPid, startChat, type Chat } from './support/chat';
import { alive, mib, MiB, RssSampler, sleep, summary } from './support/measure';

const STOPPED_MS = 15_000;
const RSS_BOUND = 64 * MiB;
const MESSAGE = 4096;

interface Client {
  readonly ws: WebSocket;
  readonly heard: string[];
  closed: { code: number; reason: string } | null;
}

function client(chat: Chat, name: string): Promise<Client> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${chat.wsUrl}?name=${name}`);
    const c: Client = { ws, heard: [], closed: null };
    ws.on('message', (data) => {
      const frame = JSON.parse(String(data)) as { type: string; from?: string; text?: string };
      if (frame.type === 'message') c.heard.push(`${frame.from}: ${frame.text!.slice(0, 40)}`);
    });
    ws.on('close', (code, reason) => (c.closed = { code, reason: String(reason) }));
    ws.once('open', () => resolve(c));
    ws.once('error', reject);
  });
}

async function until(condition: () => boolean, timeoutMs: number): Promise<number> {
  const started = performance.now();
  while (!condition()) {
    if (performance.now() - started > timeoutMs) return Infinity;
    await sleep(10);
  }
  return performance.now() - started;
}

describe('the chat example while Redis is frozen (SIGSTOP) under a flood', () => {
  let redis: RedisServer;
  let pid = 0;
  const chats: Chat[] = [];
  const clients: Client[] = [];
  let codes: (number | null)[] = [];

  afterAll(async () => {
    if (pid !== 0 && alive(pid)) process.kill(pid, 'SIGCONT');
    for (const c of clients) c.ws.terminate();
    codes = await Promise.all(chats.map((chat) => chat.stop()));
    await redis?.stop();
    expect(codes).toEqual(chats.map(() => 0));
  });

  it(`keeps its RSS within +${RSS_BOUND / MiB} MiB while one client floods ${MESSAGE}-byte messages for ${STOPPED_MS / 1000} s, and delivers across processes again after SIGCONT`, async () => {
    redis = await startRedis();
    pid = await redisPid(redis.url);
    chats.push(await startChat(['--redis', redis.url]), await startChat(['--redis', redis.url]));
    const [a, b] = chats as [Chat, Chat];
    await Promise.all(chats.map((chat) => chat.waitForLine(/redis: connected to /)));
    const flooder = await client(a, 'flood');
    const alice = await client(a, 'alice');
    const bob = await client(b, 'bob');
    clients.push(flooder, alice, bob);
    alice.ws.send('before');
    expect(await until(() => bob.heard.includes('alice: before'), 10_000)).toBeLessThan(Infinity);

    // Freeze Redis, and flood from A: 4 KB text messages as fast as the connection takes them.
    let flooding = true;
    const sampler = new RssSampler(a.pid, RSS_BOUND, () => (flooding = false));
    process.kill(pid, 'SIGSTOP');
    const frozenAt = performance.now();
    const body = 'x'.repeat(MESSAGE - 12);
    let sent = 0;
    while (flooding && performance.now() - frozenAt < STOPPED_MS && flooder.closed === null) {
      if (flooder.ws.bufferedAmount < 256 * 1024) flooder.ws.send(`${String(sent++).padStart(11, '0')} ${body}`);
      else await sleep(1);
      if (sent % 64 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    const flooded = performance.now() - frozenAt;
    await sleep(Math.max(0, STOPPED_MS - (performance.now() - frozenAt)));
    const during = await a.status();
    sampler.stop();
    process.kill(pid, 'SIGCONT');

    // Delivery across processes resumes: a new message from A reaches B's client.
    alice.ws.send('after');
    const resumedIn = await until(() => bob.heard.includes('alice: after'), 30_000);
    const after = await a.status();
    const fromFlood = bob.heard.filter((h) => h.startsWith('flood: ')).length;
    summary('chat, Redis SIGSTOPped 15 s', {
      attackers: `1 client flooding ${MESSAGE}-byte messages for ${(flooded / 1000).toFixed(1)} s${sampler.tripped ? ' (stopped at the RSS bound)' : ''}`,
      sent: `${sent} messages (${mib(sent * MESSAGE)}), ${flooder.closed ? `then closed ${flooder.closed.code} ${JSON.stringify(flooder.closed.reason)}` : 'never closed'}`,
      rss: `A ${mib(sampler.before)} -> peak ${mib(sampler.peak)} (+${mib(sampler.growth)})`,
      'hub while frozen': JSON.stringify(during.hub.adapter),
      'hub after': JSON.stringify(after.hub.adapter),
      resumed: Number.isFinite(resumedIn) ? `B's client got A's next message ${resumedIn.toFixed(0)} ms after SIGCONT; ${fromFlood} flood messages reached it` : 'no',
    });

    expect(sampler.tripped).toBe(false);
    expect(sampler.growth).toBeLessThanOrEqual(RSS_BOUND);
    expect(resumedIn).toBeLessThan(Infinity);
    expect(sent).toBeGreaterThan(0);
  }, 90_000);
});
