/**
 * The echo page's script, on rxjs-ws's browser `connect()`: the client
 * reconnects by itself, queues what you send while it cannot, and says where
 * it stands on `status$`. examples/build-pages.ts bundles it into the page.
 */
import { $, describeBinary, describeText, ExamplePage, setText } from '../page';

const messageInput = $<HTMLInputElement>('message');
const binaryBox = $<HTMLInputElement>('binary');
const logEl = $('log');
const bufferedEl = $('buffered-amount');
const receivedEl = $('received-count');
const encoder = new TextEncoder();

const page = new ExamplePage({
  command: 'npm start',
  refreshMs: 100,
  onFrame: (frame) => {
    if (typeof frame === 'string') page.log('received', describeText(frame), frame === 'heart beat' ? 'heartbeat' : '');
    else page.log('received', describeBinary(frame));
  },
  send: () => {
    const text = messageInput.value;
    const frame = binaryBox.checked ? encoder.encode(text) : text;
    const outcome = page.send(frame);
    // A queued frame goes out first, in order, when the client is open again.
    if (outcome !== 'refused') page.log('sent', typeof frame === 'string' ? describeText(frame) : describeBinary(frame), outcome === 'queued' ? 'queued' : '', outcome);
    messageInput.select();
  },
  refresh: () => {
    // The offline queue's bytes and the browser's buffer.
    setText(bufferedEl, String(page.client?.bufferedAmount ?? 0));
    setText(receivedEl, String(page.client?.stats.received ?? 0));
  },
});

$<HTMLInputElement>('hide-heartbeats').addEventListener('change', () => logEl.classList.toggle('hide-heartbeats', $<HTMLInputElement>('hide-heartbeats').checked));
