/**
 * The chat example across processes: three built chat servers on one real
 * redis-server (started here: 127.0.0.1, a free port, nothing persisted),
 * two clients on each. Then Redis is killed and restarted on the same port.
 */
import { WebSocket } from 'ws';
import { delay } from '../support/net';
import { startChat, type ChatProcess } from './peers/chat-process';
import { startRedis, type RedisServer } from './peers/redis-server';

interface Said {
  readonly from: string;
  readonly text: string;
}

/** A chat client: what it heard, in order, and the last online count. */
class Client {
  readonly heard: Said[] = [];
  online = 0;
  constructor(
    readonly name: string,
    readonly ws: WebSocket,
  ) {
    ws.on('message', (data) => {
      const frame = JSON.parse(String(data)) as { type: string; from: string; text: string; count: number };
      if (frame.type === 'online') this.online = frame.count;
      else if (frame.type === 'message') this.heard.push({ from: frame.from, text: frame.text });
    });
  }

  /** Opens a client that lives across tests (support/net's open() would be closed after each one). */
  static open(chat: ChatProcess, name: string): Promise<Client> {
    const ws = new WebSocket(`${chat.wsUrl}?name=${name}`);
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(new Client(name, ws)));
      ws.once('error', reject);
    });
  }

  /** The texts of `round` that `from` said, as this client heard them. */
  from(from: string, round: string): string[] {
    return this.heard.filter((s) => s.from === from && s.text.startsWith(`${round} `)).map((s) => s.text);
  }
}

describe('three chat processes on one Redis', () => {
  let redis: RedisServer;
  let chats: ChatProcess[] = [];
  let clients: Client[] = [];

  beforeAll(async () => {
    redis = await startRedis();
    chats = await Promise.all([0, 1, 2].map(() => startChat(['--redis', redis.url])));
    await Promise.all(chats.map((chat) => chat.waitForLine(/redis: connected to redis:\/\/127\.0\.0\.1:\d+/)));
    clients = await Promise.all(chats.flatMap((chat, p) => [0, 1].map((c) => Client.open(chat, `p${p}c${c}`))));
    await waitFor(() => clients.every((client) => client.online === 6), 'every client to see 6 online');
  });

  afterAll(async () => {
    for (const client of clients) client.ws.terminate();
    const codes = await Promise.all(chats.map((chat) => chat.stop()));
    await redis?.stop();
    expect(codes).toEqual(chats.map(() => 0)); // graceful SIGTERM
  });

  const say = (round: string, count: number) => {
    for (let i = 0; i < count; i++) for (const client of clients) client.ws.send(`${round} ${i}`);
  };
  const expectEveryoneHeard = async (round: string, count: number) => {
    const sequence = Array.from({ length: count }, (_, i) => `${round} ${i}`);
    await waitFor(() => clients.every((client) => clients.every((sender) => client.from(sender.name, round).length >= count)), `round ${round}`);
    await delay(200); // room for a duplicate to show up
    for (const client of clients) for (const sender of clients) expect(client.from(sender.name, round)).toEqual(sequence);
  };

  it('gives every message to every client of every process, once, in order per sender', async () => {
    say('one', 50);
    await expectEveryoneHeard('one', 50);
    for (const chat of chats) expect((await chat.status()).hub.duplicates).toBe(0);
  });

  it('serves local clients while Redis is down, reports the outage, and resumes delivery after a restart', async () => {
    const marks = chats.map((chat) => chat.lines.length);
    await redis.kill();
    await Promise.all(chats.map((chat, i) => chat.waitForLine(/redis: disconnected \(.+\)$/, marks[i])));
    await Promise.all(chats.map((chat, i) => chat.waitForLine(/redis: reconnecting \(attempt \d+, next in \d+ ms\)$/, marks[i])));
    for (const chat of chats) expect((await chat.status()).redis).toMatchObject({ state: 'reconnecting' });

    // Same process: delivered at once, Redis or not.
    const [p0c0, p0c1] = clients;
    p0c0!.ws.send('down 0');
    await waitFor(() => p0c1!.from('p0c0', 'down').length === 1, 'local delivery during the outage');
    expect((await chats[0]!.status()).hub.adapter).toMatchObject({ queued: 1, dropped: 0 });

    await redis.restart();
    const lines = await Promise.all(chats.map((chat, i) => chat.waitForLine(/redis: reconnected after \d+ attempt\(s\)$/, marks[i])));
    for (const line of lines) expect(Number(/after (\d+) attempt/.exec(line)![1])).toBeGreaterThanOrEqual(1);
    for (const chat of chats) expect((await chat.status()).redis).toMatchObject({ state: 'connected' });

    say('two', 20);
    await expectEveryoneHeard('two', 20);
    // The message queued during the outage went out on reconnect: once at most everywhere, and
    // (pub/sub keeps no history) only where the subscriber was back before it.
    for (const client of clients) expect(client.from('p0c0', 'down').length).toBeLessThanOrEqual(1);
    for (const chat of chats) expect((await chat.status()).hub).toMatchObject({ duplicates: 0, adapter: { queued: 0, dropped: 0 } });
  });
});

async function waitFor(condition: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const started = Date.now();
  while (!condition()) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await delay(20);
  }
}
