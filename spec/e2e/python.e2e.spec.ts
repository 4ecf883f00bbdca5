/**
 * Interop: Debian's python3-websockets (run with /usr/bin/python3) against the
 * built echo example. The peer is spec/e2e/peers/echo_client.py.
 */
import { join } from 'node:path';
import { startEcho, type EchoProcess } from './echo-process';
import { pythonSummary } from './peers/python-process';

const CLIENT = join(__dirname, 'peers', 'echo_client.py');
const MIB = 1024 * 1024;

interface FrameResult {
  name: string;
  kind: 'text' | 'binary';
  echoKind: 'text' | 'binary';
  bytes: number;
  echoBytes: number;
  sha256: string;
  echoSha256: string;
  sameKind: boolean;
  exact: boolean;
}

interface Summary {
  ok: boolean;
  websockets: string;
  python: string;
  frames: FrameResult[];
  heartbeats: number;
  closeCode: number;
  closeReason: string;
  extensions: string[];
}

describe('echo example with a Python websockets client (e2e)', () => {
  let echo: EchoProcess;

  beforeAll(async () => {
    // A fast heart beat, so that heart beats interleave with the echoes and the client must skip them.
    echo = await startEcho(['--heartbeat-ms', '20']);
  });

  afterAll(async () => {
    if (echo !== undefined) expect(await echo.stop()).toBe(0);
  });

  it('echoes text as text and binary as binary, exactly, up to 1 MiB, and closes with 1000', async () => {
    const summary = await pythonSummary<Summary>([CLIENT, echo.wsUrl]);

    expect(summary.ok).toBe(true);
    expect(summary.extensions).toEqual([]);
    expect(summary.websockets).toMatch(/^\d+\.\d+/);
    expect(summary.frames.map((f) => [f.name, f.kind, f.echoKind, f.bytes])).toEqual([
      ['text', 'text', 'text', Buffer.byteLength('hello from python \u2713')],
      ['binary', 'binary', 'binary', 14],
      ['binary 1 MiB', 'binary', 'binary', MIB],
      ['text 1 MiB', 'text', 'text', MIB],
    ]);
    for (const f of summary.frames) {
      expect(f).toMatchObject({ sameKind: true, exact: true, echoBytes: f.bytes, echoSha256: f.sha256 });
    }
    // The client pauses 60 ms before each of its 4 frames: heart beats were queued ahead of every echo.
    expect(summary.heartbeats).toBeGreaterThanOrEqual(4);
    expect(summary).toMatchObject({ closeCode: 1000, closeReason: 'python done' });

    await echo.waitForLine(/ open 127\.0\.0\.1:\d+ \/ws$/);
    await echo.waitForLine(/ close 127\.0\.0\.1:\d+ code=1000 reason="python done" clean=true$/);
  });
});

describe('echo example started with --deflate, with a Python websockets client that negotiates permessage-deflate (e2e)', () => {
  let echo: EchoProcess;

  beforeAll(async () => {
    echo = await startEcho(['--heartbeat-ms', '20', '--deflate']);
  });

  afterAll(async () => {
    if (echo !== undefined) expect(await echo.stop()).toBe(0);
  });

  it('negotiates permessage-deflate and echoes every frame exactly, compressed both ways', async () => {
    const summary = await pythonSummary<Summary>([CLIENT, '--deflate', echo.wsUrl]);
    expect(summary.extensions).toEqual(['permessage-deflate']);
    expect(summary.frames.map((f) => f.name)).toEqual(['json', 'text', 'binary', 'binary 1 MiB', 'text 1 MiB']);
    for (const f of summary.frames) {
      expect(f).toMatchObject({ sameKind: true, exact: true, echoBytes: f.bytes, echoSha256: f.sha256 });
    }
    expect(summary).toMatchObject({ ok: true, closeCode: 1000, closeReason: 'python done' });
  });
});
