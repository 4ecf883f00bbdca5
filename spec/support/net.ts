import { request, type IncomingHttpHeaders } from 'node:http';
import { createServer, connect as tcpConnect, type AddressInfo, type Socket } from 'node:net';
import { WebSocket, type ClientOptions } from 'ws';
import { serve, type RxServer, type ServeOptions } from '../../src';

/** Everything a test opened, so that a failing test still releases it (see cleanup.ts). */
export const opened = { servers: new Set<RxServer<never>>(), clients: new Set<WebSocket>(), sockets: new Set<Socket>() };

/** Starts an rxjs-ws server on 127.0.0.1 and a free port. */
export async function listen<A = undefined>(options: Omit<ServeOptions<A>, 'port'> = {}) {
  const server: RxServer<A> = serve<A>({ port: 0, ...options } as ServeOptions<A>);
  opened.servers.add(server as RxServer<never>);
  const { port } = await server.listening;
  return { server, port, url: (path = '/ws') => `ws://127.0.0.1:${port}${path}` };
}

/** Opens a ws client and waits for it to open (rejects on error). */
export function open(url: string, options?: ClientOptions): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, options);
    opened.clients.add(ws);
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

/** Resolves with the close code and reason a ws client sees. */
export function closed(ws: WebSocket): Promise<{ code: number; reason: string }> {
  return new Promise((resolve) => {
    if (ws.readyState === WebSocket.CLOSED) return resolve({ code: -1, reason: 'already closed' });
    ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() }));
  });
}

/** The next message a ws client receives, with its kind. */
export function nextMessage(ws: WebSocket): Promise<{ data: Buffer; isBinary: boolean }> {
  return new Promise((resolve) => ws.once('message', (data, isBinary) => resolve({ data: data as Buffer, isBinary })));
}

/** Tries an upgrade and resolves with the HTTP status of a refusal (or 101). */
export function upgradeStatus(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.once('open', () => {
      ws.close();
      resolve({ status: 101, body: '' });
    });
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      ws.on('error', () => {});
    });
    ws.once('error', (err) => {
      if (!/Unexpected server response/.test(err.message)) reject(err);
    });
  });
}

/** A plain HTTP GET. */
export function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** A raw TCP connection that has done the WebSocket handshake by hand (for bad-frame and slow-reader tests). */
export function rawClient(port: number, path = '/ws', extraHeaders = ''): Promise<{ socket: Socket; head: Buffer }> {
  return new Promise((resolve, reject) => {
    const socket = tcpConnect(port, '127.0.0.1');
    opened.sockets.add(socket);
    let buffered = Buffer.alloc(0);
    socket.once('error', reject);
    socket.on('connect', () => {
      socket.write(
        `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n${extraHeaders}\r\n`,
      );
    });
    const onData = (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      const end = buffered.indexOf('\r\n\r\n');
      if (end === -1) return;
      socket.removeListener('data', onData);
      socket.pause();
      const status = buffered.subarray(0, end).toString().split('\r\n')[0];
      if (!status?.includes(' 101 ')) return reject(new Error(`handshake refused: ${status}`));
      resolve({ socket, head: buffered.subarray(end + 4) });
    };
    socket.on('data', onData);
  });
}

/** Encodes one client frame (masked unless `mask` is false). */
export function frame(opcode: number, payload: Buffer | string, { fin = true, mask = true, rsv = 0 } = {}): Buffer {
  const data = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const len = data.length;
  const header: number[] = [(fin ? 0x80 : 0) | (rsv << 4) | opcode];
  const maskBit = mask ? 0x80 : 0;
  if (len < 126) header.push(maskBit | len);
  else if (len < 65536) header.push(maskBit | 126, len >> 8, len & 0xff);
  else {
    header.push(maskBit | 127, 0, 0, 0, 0);
    header.push((len >>> 24) & 0xff, (len >>> 16) & 0xff, (len >>> 8) & 0xff, len & 0xff);
  }
  if (!mask) return Buffer.concat([Buffer.from(header), data]);
  const key = Buffer.from([0x12, 0x34, 0x56, 0x78]);
  const masked = Buffer.alloc(len);
  for (let i = 0; i < len; i++) masked[i] = data[i]! ^ key[i & 3]!;
  return Buffer.concat([Buffer.from(header), key, masked]);
}

/** One frame as the server sent it. */
export interface ServerFrame {
  readonly fin: boolean;
  readonly rsv: number;
  readonly opcode: number;
  readonly masked: boolean;
  readonly payload: Buffer;
}

/** Parses complete frames off the front of `buffer`; returns them and the bytes left over. */
export function parseServerFrames(buffer: Buffer): { frames: ServerFrame[]; rest: Buffer } {
  const frames: ServerFrame[] = [];
  let at = 0;
  for (;;) {
    if (buffer.length - at < 2) break;
    const b0 = buffer[at]!;
    const b1 = buffer[at + 1]!;
    let len = b1 & 0x7f;
    let offset = at + 2;
    if (len === 126) {
      if (buffer.length - at < 4) break;
      len = buffer.readUInt16BE(at + 2);
      offset = at + 4;
    } else if (len === 127) {
      if (buffer.length - at < 10) break;
      len = Number(buffer.readBigUInt64BE(at + 2));
      offset = at + 10;
    }
    const masked = (b1 & 0x80) !== 0;
    if (masked) offset += 4;
    if (buffer.length < offset + len) break;
    let payload = buffer.subarray(offset, offset + len);
    if (masked) {
      const key = buffer.subarray(offset - 4, offset);
      payload = Buffer.from(payload.map((byte, i) => byte ^ key[i & 3]!));
    }
    frames.push({ fin: (b0 & 0x80) !== 0, rsv: (b0 >> 4) & 7, opcode: b0 & 0x0f, masked, payload });
    at = offset + len;
  }
  return { frames, rest: buffer.subarray(at) };
}

/** Complete server frames from a buffer (what a raw client read), as opcode and payload. */
export function parseFrames(buffer: Buffer): ServerFrame[] {
  return parseServerFrames(buffer).frames;
}

/** Closes every client and the server. */
export async function shutdown(server: RxServer<unknown> | RxServer<undefined>, ...clients: WebSocket[]) {
  for (const c of clients) c.terminate();
  await server.close({ timeout: 1000 });
}

export const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Resolves once `condition()` holds (checked every 10 ms); rejects naming `what` (by default the condition's code) after `timeoutMs`. */
export async function waitUntil(condition: () => boolean, what = condition.toString(), timeoutMs = 5000): Promise<void> {
  const started = Date.now();
  while (!condition()) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await delay(10);
  }
}

/** A port of 127.0.0.1 that nobody listens on (a server that is gone, for a proxy to point at). */
export async function deadPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}
