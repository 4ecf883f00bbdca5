/**
 * Slot filling against the echo example with its defaults: one address opens
 * idle WebSockets as fast as it can (handshake, then nothing) until the
 * server refuses it with 503. Past its per-address limit (256 by default) it
 * must be refused, while another address still gets in. A 429 (too many
 * handshakes a second from one address) only slows it down: it tries again
 * 50 ms later.
 */
import { performance } from 'node:perf_hooks';
import { Attacker } from './support/attacker';
import { MiB, sleep, summary, tally } from './support/measure';
import { closeArenas, figuresOf, measure, openArena } from './support/scenario';

/** `maxConnectionsPerAddress`'s default. */
const PER_ADDRESS = 256;
/** The attacker stops once it has this many (the server-wide default cap is 10,000), or after ATTACK_CAP_MS. */
const MAX_OPEN = 10_050;
const ATTACK_CAP_MS = 30_000;
const CONCURRENCY = 50;

afterEach(async () => {
  expect(await closeArenas()).toEqual([0]);
});

it(`one address filling slots gets 503 past ${PER_ADDRESS} open sockets, while a second address still connects`, async () => {
  const arena = await openArena();
  const accepted: Attacker[] = [];
  const refusals: string[] = [];
  let refused: Attacker | null = null;
  let firstRefusalMs = NaN;
  let other: Attacker | null = null;
  /** What the other address got, read before the sockets are given up at the end. */
  let otherOutcome = 'not tried';
  let stillOpen = 0;
  const m = await measure(
    arena,
    1024 * MiB, // what 10,000 idle sockets may cost; the RSS is reported, not the point here
    async ({ signal }) => {
      const started = performance.now();
      const done = () => refused !== null || accepted.length >= MAX_OPEN || signal.aborted || performance.now() - started > ATTACK_CAP_MS;
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          while (!done()) {
            const a = await Attacker.connect(arena.echo.port);
            if (a.status === 101) {
              accepted.push(a);
              continue;
            }
            refusals.push(a.outcome);
            a.destroy();
            if (a.status === 429) await sleep(50);
            else if (refused === null) {
              refused = a;
              firstRefusalMs = performance.now() - started;
            }
          }
        }),
      );
      stillOpen = accepted.filter((a) => a.open).length;
      // The attacker holds its sockets; someone else arrives.
      other = await Attacker.connect(arena.echo.port, { localAddress: '127.0.0.2' });
      otherOutcome = other.outcome;
    },
    async () => {
      other?.destroy();
      for (const a of accepted) a.destroy();
      await Promise.all([...accepted, ...(other ? [other] : [])].map((a) => a.gone()));
    },
  );
  summary('slot filling from 127.0.0.1', {
    attackers: `1 address, ${CONCURRENCY} handshakes at a time`,
    accepted: `${accepted.length} (${stillOpen} still open when it stopped)`,
    'first refusal': refused === null ? 'none' : `${(refused as Attacker).outcome} after ${firstRefusalMs.toFixed(0)} ms (${(accepted.length / (firstRefusalMs / 1000)).toFixed(0)} accepted/s)`,
    refusals: tally(refusals),
    '127.0.0.2': otherOutcome,
    ...figuresOf(m, refusals),
  });

  expect(m.up).toBe(true);
  expect(refused === null ? 'no refusal' : (refused as Attacker).outcome).toBe('http 503');
  expect(accepted.length).toBe(PER_ADDRESS);
  expect(otherOutcome).toBe('open');
}, 90_000);
