/**
 * Review: a peer that pings within the budget but does not read its pongs
 * (its link is congested) is never cut off bare: docs/security.md promises 1008
 * "Too many pings" with a log line, and only past 1,024 pongs owed.
 */
import { firstValueFrom } from 'rxjs';
import type { RxSocket } from '../../src';
import { listen } from '../support/net';
import { encodeFrame, RawWs, until } from '../support/raw';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('review: pings to a peer that does not read', () => {
  it('owing pongs to a congested peer that pings within the budget (60/s) does not get it cut off bare', async () => {
    const lines: string[] = [];
    const { server, port } = await listen({ log: (line) => lines.push(line), heartbeat: false });
    const accepted = firstValueFrom(server.connections$);
    const raw = await RawWs.connect(port);
    const socket: RxSocket = await accepted;
    raw.socket.pause(); // the peer stops reading
    // Fill the kernel's buffers and then Node's: from now on nothing we write reaches the peer.
    for (let i = 0; i < 64 && socket.ws.bufferedAmount === 0; i++) {
      socket.next(Buffer.alloc(1 << 20));
      await sleep(5);
    }
    await until(() => socket.ws.bufferedAmount > 0, 'the server side to be congested');
    // 240 pings at 60 a second: well within the 100/s budget, and far below 1,024 pongs owed.
    for (let i = 0; i < 240 && socket.closeInfo === null; i++) {
      await raw.write(encodeFrame({ opcode: 0x9 }));
      await sleep(1000 / 60);
    }
    await sleep(50);
    const info = socket.closeInfo;
    const outcome = info === null ? 'open' : `${info.code} ${JSON.stringify(info.reason)}`;
    expect(['open', '1008 "Too many pings"']).toContain(outcome);
    if (info !== null) expect(lines.some((line) => line.includes('too many pings'))).toBe(true);
  }, 15_000);
});
