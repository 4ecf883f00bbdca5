/**
 * The floor: the plainest `ws` echo server, as its README would write it.
 * No corking, no batching; text stays text, binary stays binary.
 */
import { WebSocketServer } from 'ws';
import { control } from './control';

// `--deflate`: permessage-deflate with ws's defaults, as rxjs-ws's `perMessageDeflate: true`.
const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: process.argv.includes('--deflate') });

wss.on('connection', (ws) => {
  ws.on('error', () => {});
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
});

const listening = new Promise<number>((resolve, reject) => {
  wss.once('listening', () => resolve((wss.address() as { port: number }).port));
  wss.once('error', reject);
});
// Fan-out as a ws user writes it: a plain loop of ws.send.
control(listening, () => wss.clients.size, (text) => {
  for (const ws of wss.clients) ws.send(text);
  return wss.clients.size;
});
