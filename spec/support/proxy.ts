import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy to 127.0.0.1:`target` that can cut every connection through it
 * at once (both ends destroyed, as a network failure would), by hand or at
 * random intervals, and send new connections elsewhere (`retarget()`), as a
 * load balancer would after a server died.
 */
export class CuttingProxy {
  readonly #server: Server;
  readonly #pairs = new Set<[Socket, Socket]>();
  #timer: NodeJS.Timeout | null = null;
  /** Connections cut so far. */
  cuts = 0;

  #target: number;

  constructor(target: number) {
    this.#target = target;
    this.#server = createServer((inbound) => {
      const outbound = connect(this.#target, '127.0.0.1');
      const pair: [Socket, Socket] = [inbound, outbound];
      this.#pairs.add(pair);
      const end = () => {
        this.#pairs.delete(pair);
        inbound.destroy();
        outbound.destroy();
      };
      for (const socket of pair) {
        socket.on('error', end);
        socket.on('close', end);
      }
      inbound.pipe(outbound);
      outbound.pipe(inbound);
    });
  }

  /** Listens on a free port of 127.0.0.1 and resolves with it. */
  async listen(): Promise<number> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    return (this.#server.address() as AddressInfo).port;
  }

  /** The port new connections go to. */
  get target(): number {
    return this.#target;
  }

  /** Sends new connections to `port` from now on (those open stay where they are). */
  retarget(port: number): void {
    this.#target = port;
  }

  /** Cuts every connection now. */
  cut(): void {
    for (const [a, b] of [...this.#pairs]) {
      this.cuts++;
      a.destroy();
      b.destroy();
    }
    this.#pairs.clear();
  }

  /** Cuts every connection at random, every `min`–`max` ms (real time), until `stop()`. */
  cutEvery(min: number, max: number, random: () => number = Math.random): void {
    const next = () => {
      this.#timer = setTimeout(() => {
        this.cut();
        next();
      }, min + Math.floor(random() * (max - min + 1)));
    };
    next();
  }

  /** Stops cutting. */
  stop(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }

  /** Stops, cuts what is left and closes. */
  async close(): Promise<void> {
    this.stop();
    this.cut();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
