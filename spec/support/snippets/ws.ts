/** `ws` for the documentation's snippets: a `WebSocketServer` listens on a free port and is closed after the snippet (see ./context). */
import { WebSocketServer as RealServer, type ServerOptions } from 'ws';
import { track } from './context';

export { WebSocket } from 'ws';

export class WebSocketServer extends RealServer {
  constructor(options: ServerOptions, callback?: () => void) {
    super(options.port === undefined ? options : { ...options, port: 0 }, callback);
    track(this);
  }
}
