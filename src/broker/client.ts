/**
 * The embedded broker: the only file that imports aedes. A PUBLISH is
 * appended to the journal in authorizePublish, which aedes runs before it
 * writes the PUBACK (lib/handlers/publish.js); the PUBACK's bytes then wait in
 * the AckGate until the group commit that holds the message.
 */
import { createServer, type Server } from 'node:net';
import { Aedes, type Client, type PublishPacket } from 'aedes';
import { FgError, errorMessage } from '../core/errors.js';
import type { JournalPort } from '../core/ports.js';
import type { Logger } from '../telemetry/logger.js';
import type { Metrics } from '../telemetry/metrics.js';
import type { BrokerConfig } from './config.js';
import { IngestCounters } from './ingest.js';
import { AckGate } from './ack-gate.js';

const SOCKET_BUFFER = 256 * 1024;
const MAX_UNCOMMITTED = 32 * 1024 * 1024;

export function parseBind(bind: string): { host: string; port: number } {
  const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(bind);
  if (!m) throw new FgError('FG_E_LISTEN', `cannot parse listen address ${bind}`);
  return { host: m[1]!, port: Number(m[2]) };
}

export class Broker {
  private aedes: Aedes | undefined;
  private readonly servers: Server[] = [];
  readonly counters: IngestCounters;
  private readonly gate: AckGate;
  /** The ports actually bound (for port 0 in tests). */
  readonly bound: Array<{ host: string; port: number }> = [];

  constructor(
    private readonly cfg: BrokerConfig,
    private readonly journal: JournalPort,
    private readonly metrics: Metrics,
    private readonly log: Logger,
  ) {
    this.counters = new IngestCounters(metrics);
    this.gate = new AckGate(() => journal.committedPosition);
  }

  async start(): Promise<void> {
    const journal = this.journal;
    const counters = this.counters;
    const gate = this.gate;
    journal.onCommit((committed) => gate.release(committed));
    const accept = (client: Client, packet: PublishPacket, cb: (err?: Error | null) => void): void => {
      const body = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
      try {
        journal.appendMqtt(Date.now(), packet.qos, packet.topic, client.id, body);
      } catch (err) {
        return cb(err as Error);
      }
      counters.add(packet.qos, body.length);
      // The PUBACK/PUBREC aedes writes next waits in the gate for this commit.
      if (packet.qos > 0) gate.appended(client.conn, journal.endPosition);
      // Memory stays bounded: past the cap, reading from this client waits for the commit.
      if (journal.uncommittedBytes > MAX_UNCOMMITTED) journal.whenCommitted(cb);
      else cb(null);
    };
    this.aedes = await Aedes.createBroker({
      // mqemitter's bounded concurrency recursed through released() → _do() until the
      // stack overflowed under a QoS 0 flood here; unbounded emits do not queue.
      concurrency: 0,
      authorizePublish(client, packet, cb) {
        if (!client) return cb(null);
        if (journal.blocked) return journal.whenUnblocked(() => accept(client, packet, cb));
        accept(client, packet, cb);
      },
    });
    const a = this.aedes;
    a.on('client', () => {
      this.metrics.brokerConnects.inc();
      this.metrics.brokerClients.set(a.connectedClients);
    });
    a.on('clientDisconnect', () => {
      this.metrics.brokerDisconnects.inc({ reason: 'disconnect' });
      this.metrics.brokerClients.set(a.connectedClients);
    });
    a.on('clientError', (_c, err) => {
      this.metrics.brokerDisconnects.inc({ reason: 'error' });
      this.log.debug({ err: errorMessage(err) }, 'broker: client error');
    });
    a.on('connectionError', (_c, err) => this.log.debug({ err: errorMessage(err) }, 'broker: connection error'));
    for (const l of this.cfg.listeners) {
      const { host, port } = parseBind(l.bind);
      // aedes reads one socket buffer, then waits until every packet in it is acknowledged (one
      // group commit): a larger buffer lets a fast publisher's window fill a whole commit.
      const server = createServer({ highWaterMark: SOCKET_BUFFER }, (socket) => {
        gate.attach(socket);
        a.handle(socket);
      });
      await new Promise<void>((res, rej) => {
        server.once('error', (err) => rej(new FgError('FG_E_LISTEN', `broker: cannot listen on ${l.bind}: ${errorMessage(err)}`)));
        server.listen(port, host, () => res());
      });
      const addr = server.address();
      if (addr && typeof addr === 'object') this.bound.push({ host, port: addr.port });
      this.servers.push(server);
      this.log.info({ listener: l.type, bind: l.bind }, 'broker: listening');
    }
  }

  /** Stops accepting connections and publishes; connected clients are closed. */
  async stop(): Promise<void> {
    await Promise.all(this.servers.map((s) => new Promise<void>((res) => s.close(() => res()))));
    if (this.aedes) await new Promise<void>((res) => this.aedes!.close(() => res()));
    this.counters.sync();
  }
}
