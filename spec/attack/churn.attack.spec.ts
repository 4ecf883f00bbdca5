/**
 * Connections that go as soon as they come, against the echo example with
 * its defaults: 2,000 that end with a FIN and 2,000 that end with a reset
 * (RST), each half right after their 101, half right after their request
 * (racing the server's accept). They come from 750 loopback addresses
 * (127.0.1.1–127.0.3.250), a dozen connections each over the whole run, so
 * that a per-address handshake budget does not refuse most of them before
 * they reach the accept this is about.
 *
 * The server must stay up, leak nothing (every socket it opened it closed,
 * and its RSS is back near where it started once warmed up), and every line
 * it logged for them must say which peer it was about.
 */
import { connect as tcpConnect } from 'node:net';
import { Attacker, upgradeRequest } from './support/attacker';
import { MiB, sleep, summary, tally } from './support/measure';
import { PROBE_ADDRESS } from './support/probe';
import { closeArenas, figuresOf, measure, openArena } from './support/scenario';

const PER_KIND = 1000;
const WARM_UP = 4000;
const CONCURRENCY = 20;
/** RSS after the churn, over RSS before it (both once warmed up): room for the heap's slack, not for a leak of 4,000 sockets. */
const RSS_SLACK = 16 * MiB;
const ADDRESSES = [1, 2, 3].flatMap((c) => Array.from({ length: 250 }, (_, i) => `127.0.${c}.${i + 1}`));
const KINDS = ['fin after 101', 'fin after request', 'rst after 101', 'rst after request'] as const;
type Kind = (typeof KINDS)[number];

afterEach(async () => {
  expect(await closeArenas()).toEqual([0]);
});

/** One connection of `kind` from `localAddress`; resolves with what it got once it is gone. */
async function churn(port: number, kind: Kind, localAddress: string): Promise<string> {
  const fin = kind.startsWith('fin');
  if (kind.endsWith('request')) {
    // The request, and at once the FIN or the RST: the server reads both together, or the second before it answers.
    return new Promise((resolve) => {
      const socket = tcpConnect({ port, host: '127.0.0.1', localAddress });
      let failed: string | null = null;
      socket.on('error', (err: NodeJS.ErrnoException) => (failed ??= err.code ?? 'error'));
      socket.once('connect', () => {
        socket.write(upgradeRequest(port));
        if (fin) socket.end();
        else socket.resetAndDestroy();
      });
      socket.resume();
      const timer = setTimeout(() => socket.destroy(), 2000);
      socket.once('close', () => {
        clearTimeout(timer);
        resolve(fin && failed !== null ? `error ${failed}` : 'request, then gone');
      });
    });
  }
  const a = await Attacker.connect(port, { localAddress });
  if (a.status !== 101) return a.outcome;
  if (fin) a.socket.end();
  else a.reset();
  await a.gone(2000);
  return 'upgraded, then gone';
}

async function run(port: number, count: number, kinds: readonly Kind[], outcomes: string[]): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < count) {
        const i = next++;
        outcomes.push(await churn(port, kinds[i % kinds.length]!, ADDRESSES[i % ADDRESSES.length]!));
      }
    }),
  );
}

it(`${2 * PER_KIND} FINs and ${2 * PER_KIND} resets right after the handshake: the server stays up, leaks nothing, and logs the peer of each`, async () => {
  const arena = await openArena();
  const { echo } = arena;
  await run(echo.port, WARM_UP, KINDS, []);
  await sleep(1000);
  const firstLine = echo.lines.length;
  const outcomes: string[] = [];
  const m = await measure(arena, 512 * MiB, () => run(echo.port, 4 * PER_KIND, KINDS, outcomes), async () => {}, 3000);
  const lines = echo.lines.slice(firstLine).filter((l) => !l.includes(PROBE_ADDRESS));
  const opens = lines.filter((l) => / open /.test(l)).length;
  const closes = lines.filter((l) => / close /.test(l)).length;
  const anonymous = lines.filter((l) => /undefined|unknown/.test(l) || !ADDRESSES.some((address) => l.includes(`${address}:`) || l.includes(`${address} `)));
  summary('FIN/RST churn', {
    attackers: `${4 * PER_KIND} connections (${KINDS.join(', ')}: ${PER_KIND} each) from ${ADDRESSES.length} addresses, after ${WARM_UP} to warm up`,
    'server logged': `${lines.length} lines: ${opens} open, ${closes} close, ${lines.length - opens - closes} other; ${anonymous.length} without a peer address${anonymous.length > 0 ? `, e.g. ${JSON.stringify(anonymous.slice(0, 3).map((l) => l.slice(25)))}` : ''}`,
    ...figuresOf(m, outcomes),
  });

  expect(m.up).toBe(true);
  expect(tally(outcomes)).not.toMatch(/error/);
  expect(opens).toBeGreaterThan(PER_KIND); // the accepts this is about did happen
  expect(closes).toBe(opens); // every socket opened was closed
  expect(m.rssAfter - m.rssBefore).toBeLessThanOrEqual(RSS_SLACK);
  expect(anonymous).toEqual([]);
}, 90_000);
