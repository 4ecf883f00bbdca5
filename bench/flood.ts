/**
 * A client that writes and never reads: how much memory each echo server
 * takes on while it pushes 16 KiB frames for a few seconds.
 *
 *   npm run bench:flood            (after npm run build; about 10 s)
 *
 * The plain ws echo keeps reading and queues every echo it cannot send; rxjs-ws's
 * echo (`pauseReading`, as the example) stops reading while its outbound queue
 * is not empty, so TCP holds the client back.
 */
import { createHash, randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { RAW, RXJS_WS, ServerProcess, type ServerSpec } from './server-process';

const SECONDS = Number(process.env.FLOOD_SECONDS ?? 4);
const FRAME_BYTES = 16 * 1024;
const MiB = 1024 * 1024;

async function flood(spec: ServerSpec): Promise<{ before: number; peak: number; frames: number }> {
  const server = await ServerProcess.start(spec);
  try {
    const socket = await handshake(server.port);
    const before = (await server.stats('mem')).rss;
    let peak = before;
    let frames = 0;
    let writing = true;
    const frame = maskedBinaryFrame(randomBytes(FRAME_BYTES));
    const pump = (async () => {
      while (writing) {
        if (!socket.write(frame)) await drainedOrClosed(socket);
        frames++;
      }
    })();
    const until = Date.now() + SECONDS * 1000;
    while (Date.now() < until) {
      peak = Math.max(peak, (await server.stats('cpu')).rss);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    writing = false;
    socket.destroy(); // ends a write still waiting for 'drain'
    await pump;
    return { before, peak, frames };
  } finally {
    await server.stop();
  }
}

function drainedOrClosed(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      socket.off('drain', done);
      socket.off('close', done);
      resolve();
    };
    socket.on('drain', done);
    socket.on('close', done);
  });
}

/** A raw TCP client after a WebSocket handshake; it never reads another byte. */
function handshake(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const key = randomBytes(16).toString('base64');
    const socket = connect(port, '127.0.0.1', () =>
      socket.write(`GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`),
    );
    const accept = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
    socket.once('error', reject);
    socket.once('data', (chunk: Buffer) => {
      socket.pause(); // and never read again
      if (chunk.toString().includes(accept)) resolve(socket);
      else reject(new Error(`handshake refused: ${chunk.toString().split('\r\n')[0]}`));
    });
  });
}

function maskedBinaryFrame(payload: Buffer): Buffer {
  const header = Buffer.from([0x82, 0x80 | 126, payload.length >> 8, payload.length & 0xff, 1, 2, 3, 4]);
  const masked = Buffer.from(payload);
  for (let i = 0; i < masked.length; i++) masked[i]! ^= header[4 + (i & 3)]!;
  return Buffer.concat([header, masked]);
}

(async () => {
  process.stdout.write(`A client writes ${FRAME_BYTES / 1024} KiB frames for ${SECONDS} s and never reads:\n`);
  for (const spec of [RAW, RXJS_WS]) {
    const { before, peak, frames } = await flood(spec);
    process.stdout.write(
      `  ${spec.label.padEnd(8)} RSS ${(before / MiB).toFixed(0)} MiB -> peak ${(peak / MiB).toFixed(0)} MiB (+${((peak - before) / MiB).toFixed(0)} MiB); the client got ${frames.toLocaleString('en-US')} frames out\n`,
    );
  }
})().catch((err: Error) => {
  process.stderr.write(`${err.stack ?? err.message}\n`);
  process.exit(1);
});
