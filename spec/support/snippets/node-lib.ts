/** `rxjs-ws` for the documentation's snippets (see ./context). */
import { connect as realConnect, createHub as realCreateHub, memoryAdapter, serve as realServe } from '../../../src';
import type { ConnectOptions, HubOptions, RedisAdapterOptions, ServeOptions } from '../../../src';
import { context, track } from './context';

export * from '../../../src';

/** As the library's, listening on a free port whatever `port` says. */
export function serve<A = undefined>(options: ServeOptions<A>) {
  return track(realServe<A>(options.port === undefined ? options : { ...options, port: 0 }));
}

/** As the library's, connecting to the context's echo server. */
export function connect(_url: string | URL, options?: ConnectOptions) {
  return track(realConnect(context().url, options));
}

/** As the library's, released after the snippet. */
export function createHub(options?: HubOptions) {
  return track(realCreateHub(options));
}

/** An in-memory adapter: the snippets run without a Redis server. */
export function redisAdapter(_options?: RedisAdapterOptions) {
  return memoryAdapter();
}
