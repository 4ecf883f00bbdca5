/**
 * One client WebSocket on a plain TCP socket: the opening handshake (with
 * the Sec-WebSocket-Accept check), frames out corked until the end of the
 * tick (a burst leaves in one write, like a busy client's), pings answered,
 * and the closing handshake.
 */
import { createHash, randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { closeFrame, COMPRESSED, frame, FrameError, FrameReader, Opcode } from './frames';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const HANDSHAKE_TIMEOUT_MS = 10_000;
const CLOSE_TIMEOUT_MS = 5_000;
const HEAD_END = Buffer.from('\r\n\r\n');

/** What the connection tells its owner. */
export interface ConnectionEvents {
  /** A data message (text or binary). */
  message(connection: Connection, opcode: number, payload: Buffer): void;
  /** The connection ended without our asking: the server closed, failed, or reset. */
  lost(connection: Connection, why: string): void;
}

export class Connection {
  static readonly #toUncork: Connection[] = [];

  readonly id: number;
  /** Pings the server sent (its protocol heartbeat). */
  pings = 0;
  readonly #socket: Socket;
  readonly #events: ConnectionEvents;
  readonly #reader: FrameReader;
  #corked = false;
  #closing = false;
  #ended = false;
  #onEnd: (() => void) | null = null;

  private constructor(id: number, socket: Socket, events: ConnectionEvents, deflate: boolean) {
    this.id = id;
    this.#socket = socket;
    this.#events = events;
    this.#reader = new FrameReader((opcode, payload) => this.#onFrame(opcode, payload), deflate);
  }

  /**
   * Opens a connection to ws://127.0.0.1:port/ and resolves once the server
   * has accepted it. `extensions` is offered as Sec-WebSocket-Extensions
   * (permessage-deflate: compressed messages come with `COMPRESSED` added
   * to their opcode, for the owner to inflate).
   */
  static open(port: number, id: number, events: ConnectionEvents, extensions?: string): Promise<Connection> {
    return new Promise<Connection>((resolve, reject) => {
      const key = randomBytes(16).toString('base64');
      const socket = connect({ port, host: '127.0.0.1', noDelay: true });
      const connection = new Connection(id, socket, events, extensions !== undefined);
      let head: Buffer = Buffer.alloc(0);
      const fail = (why: string) => {
        socket.destroy();
        reject(new Error(`connection ${id}: ${why}`));
      };
      const timer = setTimeout(() => fail(`no handshake within ${HANDSHAKE_TIMEOUT_MS} ms`), HANDSHAKE_TIMEOUT_MS);
      const onData = (chunk: Buffer) => {
        head = head.length === 0 ? chunk : Buffer.concat([head, chunk]);
        const end = head.indexOf(HEAD_END);
        if (end < 0) return;
        clearTimeout(timer);
        socket.removeListener('data', onData);
        socket.removeListener('error', onError);
        const why = checkHandshake(head.toString('latin1', 0, end), key);
        if (why !== null) return fail(why);
        connection.#attach();
        if (end + 4 < head.length) connection.#data(head.subarray(end + 4));
        resolve(connection);
      };
      const onError = (err: Error) => {
        clearTimeout(timer);
        fail(err.message);
      };
      socket.on('data', onData);
      socket.on('error', onError);
      socket.write(
        `GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n${extensions === undefined ? '' : `Sec-WebSocket-Extensions: ${extensions}\r\n`}\r\n`,
      );
    });
  }

  /** Sends frame chunks; the socket stays corked until the end of the tick. */
  send(chunks: readonly Buffer[]): void {
    if (this.#closing) return;
    if (!this.#corked) {
      this.#corked = true;
      this.#socket.cork();
      if (Connection.#toUncork.push(this) === 1) process.nextTick(Connection.#uncorkAll);
    }
    for (const chunk of chunks) this.#socket.write(chunk);
  }

  /** Runs the closing handshake (1000); resolves when the TCP connection is gone. */
  close(): Promise<void> {
    if (this.#ended) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => this.#socket.destroy(), CLOSE_TIMEOUT_MS);
      this.#onEnd = () => {
        clearTimeout(timer);
        resolve();
      };
      if (!this.#closing) {
        this.#closing = true;
        this.#socket.write(closeFrame(1000));
      }
    });
  }

  /** Drops the TCP connection without a closing handshake. */
  destroy(): void {
    this.#closing = true;
    this.#socket.destroy();
  }

  static #uncorkAll(this: void): void {
    const list = Connection.#toUncork;
    for (let i = 0; i < list.length; i++) {
      list[i]!.#corked = false;
      list[i]!.#socket.uncork();
    }
    list.length = 0;
  }

  #attach(): void {
    const socket = this.#socket;
    socket.on('data', (chunk: Buffer) => this.#data(chunk));
    socket.on('error', (err) => this.#lost(`socket error: ${err.message}`));
    socket.on('close', () => {
      this.#lost('connection closed by the server');
      this.#ended = true;
      this.#onEnd?.();
    });
  }

  #data(chunk: Buffer): void {
    try {
      this.#reader.push(chunk);
    } catch (err) {
      if (!(err instanceof FrameError)) throw err;
      this.#lost(`protocol error from the server: ${err.message}`);
      this.destroy();
    }
  }

  #onFrame(opcode: number, payload: Buffer): void {
    if ((opcode & ~COMPRESSED) === Opcode.TEXT || (opcode & ~COMPRESSED) === Opcode.BINARY) return this.#events.message(this, opcode, payload);
    if (opcode === Opcode.PING) {
      this.pings++;
      if (!this.#closing) this.send([frame(Opcode.PONG, payload)]);
    } else if (opcode === Opcode.CLOSE) {
      if (!this.#closing) {
        const code = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
        this.#lost(`server closed with ${code} ${JSON.stringify(payload.toString('utf8', 2))}`);
        this.#closing = true;
        this.#socket.write(closeFrame(code === 1005 ? 1000 : code));
      }
      // The server ends TCP after the closing handshake; ending ours too frees the socket sooner.
      this.#socket.end();
    } else if (opcode !== Opcode.PONG) {
      this.#lost(`unexpected opcode ${opcode}`);
    }
  }

  #lost(why: string): void {
    if (this.#closing || this.#ended) return;
    this.#closing = true;
    this.#events.lost(this, why);
  }
}

/** Why the server's handshake answer is not a valid 101 for `key`, or `null`. */
function checkHandshake(head: string, key: string): string | null {
  const [status, ...lines] = head.split('\r\n');
  if (!/^HTTP\/1\.1 101 /.test(status ?? '')) return `handshake refused: ${status}`;
  const accept = createHash('sha1').update(key + GUID).digest('base64');
  const header = lines.find((line) => line.toLowerCase().startsWith('sec-websocket-accept:'));
  if (header?.slice(header.indexOf(':') + 1).trim() !== accept) return 'bad Sec-WebSocket-Accept';
  return null;
}
