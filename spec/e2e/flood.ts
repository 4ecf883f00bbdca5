/** A client that writes and never reads, for the e2e suites that watch the server's memory under it. */
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { frame, parseFrames, type ServerFrame } from '../support/net';

/** Resident memory of a process, in bytes (Linux). */
export function rss(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'))!;
  return Number(/(\d+)/.exec(line)![1]) * 1024;
}

/**
 * Writes binary frame `payload(i)` for i = 0, 1, 2… whenever `socket` takes
 * them, until `stop()`; `written()` counts the frames handed to the socket;
 * `done` resolves once the writer has stopped (it may wait for a drain that
 * only comes once the server reads again).
 */
export function flood(socket: Socket, payload: (i: number) => Buffer): { readonly written: () => number; stop(): void; readonly done: Promise<void> } {
  let written = 0;
  let writing = true;
  const done = (async () => {
    while (writing) {
      const taken = socket.write(frame(2, payload(written)));
      written++; // counted once handed over: its echo comes back when the server reads again
      if (!taken) await new Promise((resolve) => socket.once('drain', resolve));
    }
  })();
  return { written: () => written, stop: () => (writing = false), done };
}

/** Reads `socket` from now on, handing each complete server frame to `onFrame`. */
export function readFrames(socket: Socket, onFrame: (frame: ServerFrame) => void): void {
  let buffered = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    for (;;) {
      const [first] = parseFrames(buffered);
      if (first === undefined) break;
      const len = first.payload.length;
      buffered = buffered.subarray(len + (len < 126 ? 2 : len < 65536 ? 4 : 10));
      onFrame(first);
    }
  });
  socket.resume();
}
