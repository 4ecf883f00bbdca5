/**
 * JSON echo with and without permessage-deflate, rxjs-ws against raw `ws` with
 * the same settings (`perMessageDeflate: true`: ws's defaults on both
 * sides). The load comes from `ws` clients in this process that offer
 * deflate as the server does (the lean load client speaks no extension):
 * each of `connections` keeps `window` JSON messages of about `size` bytes
 * in flight, and every echo is checked against what was sent. Reports
 * echoes/s, the server's CPU per echo, and the bytes both ways on the wire
 * per echo (TCP payload, frames and headers included).
 */
import { WebSocket } from 'ws';
import type { DeflateEcho } from '../results';
import type { ServerProcess } from '../server-process';
import { compareTextEcho, type TextEchoClients, type TextEchoParams } from './text-echo';

export type DeflateParams = TextEchoParams;

/** Runs the rounds alternating servers; medians per server label. */
export function compareDeflate(servers: readonly ServerProcess[], params: DeflateParams, log: (line: string) => void): Promise<DeflateEcho> {
  return compareTextEcho(servers, params, WS_CLIENTS, log);
}

/** `ws` clients that offer deflate when the server has it on. */
const WS_CLIENTS: TextEchoClients = {
  open: (server, createConnection, echo, fail) =>
    new Promise((resolve, reject) => {
      const deflate = server.spec.args?.includes('--deflate') === true;
      const ws = new WebSocket(`ws://127.0.0.1:${server.port}/`, { perMessageDeflate: deflate, createConnection: createConnection as never });
      ws.on('message', (data, isBinary) => echo(isBinary ? null : data.toString()));
      ws.once('error', reject);
      ws.once('open', () => {
        ws.removeListener('error', reject);
        ws.on('error', (error) => fail(error.message));
        if (deflate && ws.extensions !== 'permessage-deflate') reject(new Error(`${server.spec.label}: permessage-deflate not negotiated`));
        else resolve({ send: (text) => ws.send(text), end: () => ws.terminate() });
      });
    }),
  message,
};

/** A JSON message of about `size` bytes carrying its connection and sequence number. */
function message(conn: number, seq: number, size: number): string {
  const rows: string[] = [];
  let length = 40;
  for (let i = 0; length < size; i++) {
    const row = `{"id":${i},"name":"item ${i}","price":${(i * 1.25).toFixed(2)},"tags":["new","sale"]}`;
    rows.push(row);
    length += row.length + 1;
  }
  return `{"conn":${conn},"seq":${seq},"rows":[${rows.join(',')}]}`;
}
