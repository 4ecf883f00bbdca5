/** Per-address limits and the server-wide memory budget. */
import { TestScheduler } from 'rxjs/testing';
import { InvalidArgumentError, type RxSocket } from '../../src';
import { MemoryBudget, type BudgetMember } from '../../src/server/budget';
import { addressKey, AddressLimits } from '../../src/server/limits';
import { FRAGMENT_OVERHEAD } from '../../src/socket/ws-internals';
import { listen, open, upgradeStatus } from '../support/net';
import { encodeFrame, RawWs, trapEscapes, until } from '../support/raw';

trapEscapes();

describe('addressKey()', () => {
  it('keeps IPv4, unwraps IPv4-mapped IPv6, and groups other IPv6 by /64', () => {
    expect(addressKey('203.0.113.7')).toBe('203.0.113.7');
    expect(addressKey('::ffff:203.0.113.7')).toBe('203.0.113.7');
    expect(addressKey('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:0db8:0001:0002:bbbb:cccc:dddd:eeee')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(addressKey('::1')).toBe('0:0:0:0::/64');
    expect(addressKey('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
    expect(addressKey(undefined)).toBe('');
  });
});

describe('AddressLimits', () => {
  it('refuses a handshake past the rate of its address, which refills in time, and leaves other addresses alone', () => {
    const scheduler = new TestScheduler(() => undefined);
    let now = 0;
    scheduler.now = () => now;
    const limits = new AddressLimits(Infinity, 3, scheduler);
    expect([1, 2, 3, 4].map(() => limits.admit('a'))).toEqual([null, null, null, 'rate']);
    expect(limits.admit('b')).toBeNull();
    now = 334; // a third of a second: one more
    expect([limits.admit('a'), limits.admit('a')]).toEqual([null, 'rate']);
  });

  it('refuses past the connections an address holds, and counts them back', () => {
    const limits = new AddressLimits(2, Infinity, new TestScheduler(() => undefined));
    limits.tally('a', 1);
    limits.tally('a', 1);
    expect(limits.admit('a')).toBe('connections');
    limits.tally('a', -1);
    expect(limits.admit('a')).toBeNull();
    expect(limits.held('a')).toBe(1);
  });
});

describe('per-address limits over real sockets', () => {
  it('answers 503 past maxConnectionsPerAddress and 429 (Retry-After) past handshakesPerAddress, with a log line each', async () => {
    const lines: string[] = [];
    const { url } = await listen({ maxConnectionsPerAddress: 2, handshakesPerAddress: 1000, log: (l) => lines.push(l) });
    await open(url());
    await open(url());
    expect((await upgradeStatus(url())).status).toBe(503);
    expect(lines).toContainEqual(expect.stringMatching(/^upgrade refused 503 from 127\.0\.0\.1 \/ws: per-address connection limit$/));

    const rate = await listen({ handshakesPerAddress: 2, log: (l) => lines.push(l) });
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await upgradeStatus(rate.url())).status);
    expect(statuses.slice(0, 2)).toEqual([101, 101]);
    expect(statuses).toContain(429);
    expect(lines).toContainEqual(expect.stringMatching(/^upgrade refused 429 from 127\.0\.0\.1 \/ws: per-address handshake rate$/));
  });

  it('takes the client address from clientAddress (a trusted proxy header), for the limits and the socket', async () => {
    const { server, url } = await listen({
      maxConnectionsPerAddress: 1,
      clientAddress: (req) => req.headers['x-real-ip']?.toString(),
    });
    const sockets: RxSocket[] = [];
    server.connections$.subscribe((s) => sockets.push(s));
    await open(url(), { headers: { 'X-Real-IP': '203.0.113.1' } });
    await open(url(), { headers: { 'X-Real-IP': '203.0.113.2' } }); // another client behind the same proxy
    expect((await upgradeStatus(url(), { 'X-Real-IP': '203.0.113.1' })).status).toBe(503);
    await until(() => sockets.length === 2, 'two sockets');
    expect(sockets.map((s) => s.remoteAddress)).toEqual(['203.0.113.1', '203.0.113.2']);
  });

  it('validates the options when created', async () => {
    await expect(listen({ handshakesPerAddress: 0 })).rejects.toThrow(InvalidArgumentError);
    await expect(listen({ memoryBudget: -1 })).rejects.toThrow('Expected `memoryBudget` to be an integer >= 1, got `-1` (number)');
    await expect(listen({ clientAddress: 'x-real-ip' as never })).rejects.toThrow('Expected `clientAddress` to be a function');
  });
});

class Member implements BudgetMember {
  evicted = 0;
  constructor(public cost: number) {}
  memoryCost(): number {
    return this.cost;
  }
  evict(): void {
    this.evicted++;
  }
}

describe('MemoryBudget', () => {
  it('evicts the largest holders, measured afresh, until the rest fit in 90 % of it; each once', () => {
    const evicted: number[] = [];
    const budget = new MemoryBudget(100, (_m, cost) => evicted.push(cost));
    const [a, b, c] = [new Member(30), new Member(40), new Member(20)];
    budget.change(a, 0, 30);
    budget.change(b, 0, 40);
    budget.change(c, 0, 20);
    expect(evicted).toEqual([]);
    b.cost = 60; // b grew, and said so
    budget.change(b, 40, 60);
    expect(evicted).toEqual([60]); // 110 > 100: b goes; 50 left
    expect([a.evicted, b.evicted, c.evicted]).toEqual([0, 1, 0]);
    budget.change(b, 60, 70); // an evicted socket that still grows is not evicted twice
    expect(b.evicted).toBe(1);
    budget.release(b);
    expect(budget.used).toBe(50);
    expect(budget.evictions).toBe(1);
  });

  it('keeps the total right when a holder reports after the budget measured it', () => {
    const budget = new MemoryBudget(100, () => {});
    const a = new Member(10);
    budget.change(a, 0, 10);
    const big = new Member(95);
    budget.change(big, 0, 95); // over: measures everyone, evicts big
    a.cost = 0;
    budget.change(a, 10, 0);
    budget.release(big);
    expect(budget.used).toBe(0);
  });
});

describe('the memory budget over real sockets', () => {
  /** A raw client that starts a message and never ends it: 64-byte fragments, `count` of them. */
  async function unfinished(port: number, count: number): Promise<RawWs> {
    const raw = await RawWs.connect(port);
    const piece = 'a'.repeat(64);
    const frames = [encodeFrame({ opcode: 0x1, payload: piece, fin: false })];
    for (let i = 1; i < count; i++) frames.push(encodeFrame({ opcode: 0x0, payload: piece, fin: false }));
    await raw.write(Buffer.concat(frames));
    return raw;
  }

  it('counts what unfinished messages cost, closes the largest holder with 1008 past the budget, and serves the rest', async () => {
    const lines: string[] = [];
    const budget = 3000 * (FRAGMENT_OVERHEAD + 64); // room for about 3,000 pending fragments in all
    const { server, port, url } = await listen({ memoryBudget: budget, log: (l) => lines.push(l) });
    const sockets: RxSocket[] = [];
    server.connections$.subscribe((s) => {
      sockets.push(s);
      s.messages$.subscribe(s);
    });
    const small = await unfinished(port, 500);
    await until(() => sockets.length === 1 && sockets[0]!.memoryCost() > 0, 'the small holder counted');
    expect(sockets[0]!.memoryCost()).toBeGreaterThanOrEqual(500 * (FRAGMENT_OVERHEAD + 64));
    const large = await unfinished(port, 2800);
    await large.waitFor(() => large.closeFrame !== undefined || large.closedAt !== null, 'the large holder closed');
    expect(large.closeFrame?.payload.readUInt16BE(0)).toBe(1008);
    await until(() => large.closedAt !== null, 'the connection cut');
    expect(small.closedAt).toBeNull();
    expect(lines).toContainEqual(expect.stringMatching(/^socket from 127\.0\.0\.1 closed 1008 \(server memory budget: it held [\d.]+ MiB\)$/));
    const echo = await open(url());
    const got = new Promise<string>((resolve) => echo.once('message', (m) => resolve(m.toString())));
    echo.send('still here');
    expect(await got).toBe('still here');
    await until(() => sockets[1]!.state === 'closed', 'the evicted socket released');
    expect(sockets[1]!.closeInfo).toMatchObject({ code: 1008, reason: 'Server memory budget exceeded', wasClean: false });
  });
});
