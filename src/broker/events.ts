/** Counts the broker's connection events into the metrics (connects, disconnects by reason, flood drops). */
import type { Aedes } from 'aedes';
import { errorMessage } from '../core/errors.js';
import type { Logger, RateLimitedLog } from '../telemetry/logger.js';
import type { Metrics } from '../telemetry/metrics.js';

export function countEvents(aedes: Aedes, metrics: Metrics, limitedLog: RateLimitedLog, log: Logger): void {
  aedes.on('client', () => {
    metrics.brokerConnects.inc();
    metrics.brokerClients.set(aedes.connectedClients);
  });
  aedes.on('clientDisconnect', () => {
    metrics.brokerDisconnects.inc({ reason: 'disconnect' });
    metrics.brokerClients.set(aedes.connectedClients);
  });
  for (const reason of ['slow_consumer', 'unsent_limit', 'queue_limit', 'packet_too_large']) metrics.brokerFloodDrops.inc({ reason }, 0);
  // aedes reports one error per failed delivery of a dropped slow consumer: count the client once.
  const ended = new WeakSet<object>();
  aedes.on('clientError', (c, err) => {
    const flood = /drain timeout/i.test(err.message)
      ? 'slow_consumer'
      : /queue limit/i.test(err.message)
        ? 'queue_limit'
        : /too large/.test(err.message)
          ? 'packet_too_large'
          : undefined;
    if (flood) metrics.brokerFloodDrops.inc({ reason: flood });
    if (c && ended.has(c)) return;
    if (c) ended.add(c);
    metrics.brokerDisconnects.inc({ reason: flood ?? 'error' });
    if (flood) {
      limitedLog.warn(`flood:${flood}`, { client: c?.id, reason: flood }, 'broker: dropped a client that flooded or fell behind');
    }
    log.debug({ err: errorMessage(err) }, 'broker: client error');
  });
  aedes.on('keepaliveTimeout', () => metrics.brokerDisconnects.inc({ reason: 'keepalive' }));
  aedes.on('connectionError', (_c, err) => {
    // MQTT 5 clients get CONNACK 1 (unacceptable protocol version) from aedes; say so once a minute.
    if (/protocol/i.test(err.message))
      limitedLog.warn(
        'mqtt5',
        { err: errorMessage(err) },
        'broker: refused a client for its protocol version (fieldgate speaks MQTT 3.1 and 3.1.1; MQTT 5 clients are refused with CONNACK 1)',
      );
    log.debug({ err: errorMessage(err) }, 'broker: connection error');
  });
}
