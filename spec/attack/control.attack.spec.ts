/**
 * Control-frame floods against the echo example with its defaults, each
 * from one client that reads what the server sends and, when it is closed,
 * connects again at once, for FLOOD_MS:
 *
 * - pings: the server answers each with a pong. The library's ping budget
 *   (100 a second, a burst of 100) closes the client with 1008
 *   "Too many pings".
 * - unsolicited pongs: the server owes nothing for them. No budget applies
 *   to them unless the server sets a `rateLimit` (the echo example does
 *   not); what the server must guarantee is that they cost it bounded memory
 *   and leave the probe unaffected.
 */
import { Attacker, frame, repeat } from './support/attacker';
import { MiB, mib, summary } from './support/measure';
import { closeArenas, figuresOf, measure, openArena, type Arena } from './support/scenario';

const FLOOD_MS = 5000;
const P99_BOUND = 100;
/** Control frames hold nothing once handled: the RSS may move by the heap's own slack, no more. */
const RSS_BOUND = 64 * MiB;

afterEach(async () => {
  expect(await closeArenas()).toEqual([0]);
});

/** Floods `chunk` from one client, reconnecting whenever it is closed, for FLOOD_MS. */
async function persistentFlood(arena: Arena, chunk: Buffer) {
  const connections: Attacker[] = [];
  const m = await measure(arena, RSS_BOUND, async ({ signal }) => {
    const end = Date.now() + FLOOD_MS;
    while (Date.now() < end && !signal.aborted) {
      const a = await Attacker.connect(arena.echo.port);
      connections.push(a);
      if (!a.open) continue;
      const timer = setTimeout(() => a.stop(), Math.max(0, end - Date.now()));
      const stop = () => a.stop();
      signal.addEventListener('abort', stop);
      await a.flood(chunk);
      clearTimeout(timer);
      signal.removeEventListener('abort', stop);
      if (a.close !== null) await a.gone(1000);
    }
  });
  return { m, connections };
}

function closes(connections: readonly Attacker[]): string[] {
  return connections.map((a) => (a.close !== null ? `close ${a.close.code} ${JSON.stringify(a.close.reason)}` : a.outcome));
}

it('a ping flood (the client reads its pongs) is closed with 1008 "Too many pings", every time it comes back; the probe is unaffected', async () => {
  const arena = await openArena();
  const { m, connections } = await persistentFlood(arena, repeat(frame(0x9, ''), 10_000));
  const sent = connections.reduce((n, a) => n + a.sent, 0);
  summary('ping flood', {
    attackers: `1 client, ${connections.length} connection(s) in ${FLOOD_MS / 1000} s`,
    sent: `${mib(sent)} (${Math.round(sent / 6)} pings), ${connections.reduce((n, a) => n + a.pongs, 0)} pongs back`,
    'closed after': connections[0]?.close ? `${connections[0].pongs} pongs, ${connections[0].closedFrameAt - connections[0].upgradedAt} ms` : 'never',
    ...figuresOf(m, closes(connections)),
  });

  expect(m.up).toBe(true);
  expect(closes(connections).slice(0, 1)).toEqual(['close 1008 "Too many pings"']);
  expect(closes(connections).filter((c) => !['close 1008 "Too many pings"', 'http 429', 'http 503'].includes(c))).toEqual([]);
  expect(m.probe.p99).toBeLessThanOrEqual(P99_BOUND);
  expect(m.rssPeak - m.rssBefore).toBeLessThanOrEqual(RSS_BOUND);
}, 60_000);

it('an unsolicited pong flood costs bounded memory and leaves the probe unaffected', async () => {
  const arena = await openArena();
  const { m, connections } = await persistentFlood(arena, repeat(frame(0xa, ''), 10_000));
  const sent = connections.reduce((n, a) => n + a.sent, 0);
  summary('pong flood', {
    attackers: `1 client, ${connections.length} connection(s) in ${FLOOD_MS / 1000} s`,
    sent: `${mib(sent)} (${Math.round(sent / 6)} pongs, ${Math.round(sent / 6 / (m.ms / 1000))}/s)`,
    ...figuresOf(m, closes(connections)),
  });

  expect(m.up).toBe(true);
  expect(m.probe.p99).toBeLessThanOrEqual(P99_BOUND);
  expect(m.rssPeak - m.rssBefore).toBeLessThanOrEqual(RSS_BOUND);
  // Whatever the server decides (ignore them, or close with 1008 under a rate limit), it decides it in the protocol.
  expect(closes(connections).filter((c) => !/^(open|nothing|close 1008 .*|http 429|http 503)$/.test(c))).toEqual([]);
}, 60_000);
