/**
 * The chat page's script, on rxjs-ws's browser `connect()`: it reconnects by
 * itself, and what you say while it cannot waits in the offline queue.
 * examples/build-pages.ts bundles it into the page.
 *
 * Frames in: {"type":"message","from":"ann","text":"hi","at":1700000000000}
 * and {"type":"online","count":3}.
 */
import { $, ExamplePage, setText } from '../page';

const NAME_KEY = 'rxjs-ws-chat-name';

const nameInput = $<HTMLInputElement>('name');
const messageInput = $<HTMLInputElement>('message');
const onlineEl = $('online');
const receivedEl = $('received-count');

let myName = '';
let received = 0;

function onFrame(data: string): void {
  let frame: { type?: unknown; count?: unknown; from?: unknown; text?: unknown; at?: unknown };
  try {
    frame = JSON.parse(data);
  } catch {
    return page.log('error', `not JSON: ${data}`);
  }
  if (frame.type === 'online') {
    setText(onlineEl, String(frame.count));
  } else if (frame.type === 'message') {
    received++;
    const from = String(frame.from);
    // The sender's name is the line's label; our own lines are marked `mine`.
    page.log('received', String(frame.text), from === myName ? 'mine' : '', from, typeof frame.at === 'number' ? frame.at : undefined);
  }
}

const page = new ExamplePage({
  command: 'npm run chat',
  refreshMs: 250,
  closeNames: { 1013: 'try again later (too slow to keep up)' },
  url: (typed) => {
    myName = nameInput.value.trim();
    localStorage.setItem(NAME_KEY, myName);
    const url = new URL(typed);
    if (myName) url.searchParams.set('name', myName);
    return url.href;
  },
  onFrame: (frame) => (typeof frame === 'string' ? onFrame(frame) : page.log('error', 'a binary frame from the server')),
  send: () => {
    const text = messageInput.value;
    if (text === '') return;
    // It comes back, in order with everyone else's, as it reached the others; a queued one goes out when the client is open again.
    if (page.send(text) === 'queued') page.log('sent', text, 'queued', 'queued');
    messageInput.value = '';
  },
  refresh: (active) => {
    if (page.client?.state !== 'open') setText(onlineEl, '–');
    setText(receivedEl, String(received));
    nameInput.disabled = active;
  },
});

nameInput.value = localStorage.getItem(NAME_KEY) ?? '';
