/**
 * A TCP proxy on loopback that drops connections on demand: a store whose network goes bad
 * (a connection reset mid-request, mid-response or before it starts). The store behind it is real.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';

export class DropProxy {
  /** Chance that a request cuts its connection. */
  dropProbability = 0;
  drops = 0;
  connections = 0;
  private readonly sockets = new Set<Socket>();
  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async create(target: { host: string; port: number }): Promise<DropProxy> {
    // eslint-disable-next-line prefer-const -- assigned after the server that refers to it is made
    let proxy!: DropProxy;
    const server = createServer((client) => {
      proxy.connections++;
      const upstream = connect(target.port, target.host);
      for (const s of [client, upstream]) {
        proxy.sockets.add(s);
        s.on('close', () => proxy.sockets.delete(s));
        s.on('error', () => undefined);
      }
      client.pipe(upstream);
      upstream.pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
      // Keep-alive connections carry many requests: each request the client sends may cut its
      // connection 0–50 ms later (before, during or after the server's answer).
      let cutting = false;
      client.on('data', () => {
        if (cutting || Math.random() >= proxy.dropProbability) return;
        cutting = true;
        setTimeout(
          () => {
            proxy.drops++;
            client.resetAndDestroy();
            upstream.destroy();
          },
          Math.floor(Math.random() * 50),
        );
      });
    });
    await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
    const addr = server.address();
    proxy = new DropProxy(server, typeof addr === 'object' && addr ? addr.port : 0);
    return proxy;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((res) => this.server.close(() => res()));
  }
}
