/**
 * Small-message echo with resumable sessions off and on: the rxjs-ws echo
 * server (with `resume` on in the second case) and rxjs-ws clients in this
 * process (`connect()`, with `resume: true` in the second case), so the
 * ratio is what numbering, batched acknowledgements and the window cost on
 * both sides (acknowledgements included in the bytes on the wire).
 */
import { filter, firstValueFrom } from 'rxjs';
import { connect } from 'rxjs-ws';
import type { ResumeEcho } from '../results';
import type { ServerProcess } from '../server-process';
import { compareTextEcho, type TextEchoClients, type TextEchoParams } from './text-echo';

export type ResumeParams = TextEchoParams;

/** Runs the rounds alternating servers; medians per server label. */
export function compareResume(servers: readonly ServerProcess[], params: ResumeParams, log: (line: string) => void): Promise<ResumeEcho> {
  return compareTextEcho(servers, params, RXJS_WS_CLIENTS, log);
}

/** rxjs-ws clients that ask for a resumable session when the server has resume on. */
const RXJS_WS_CLIENTS: TextEchoClients = {
  async open(server, createConnection, echo, fail) {
    const resume = server.spec.args?.includes('--resume') === true;
    const client = connect(`ws://127.0.0.1:${server.port}/`, { resume, reconnect: false, heartbeat: false, createConnection: createConnection as never });
    client.errors$.subscribe((error) => fail(error.message));
    client.messages$.subscribe((data) => echo(typeof data === 'string' ? data : null));
    const status = await firstValueFrom(client.status$.pipe(filter((s) => s.state !== 'connecting')));
    if (status.state !== 'open') throw new Error(`${server.spec.label}: a client did not open (${status.state})`);
    if (resume && status.session?.state !== 'new') throw new Error(`${server.spec.label}: no resumable session (${status.session?.state})`);
    return { send: (text) => client.next(text), end: () => client.terminate() };
  },
  /** Its sequence number in base 36 on 8 characters, padded to `size`. */
  message: (_conn, seq, size) => seq.toString(36).padStart(8, '0') + 'x'.repeat(Math.max(0, size - 8)),
};
