/**
 * QoS 1 load that survives the gateway going away: one raw publisher after another, each value a
 * unique sequence number used as its tag, so a test can compare what was acknowledged with what
 * the store holds. For the crash and soak tests.
 */
import { RawPublisher } from '../../bench/lib/raw-mqtt.mjs';
import { sleep } from './ports.js';

export interface Qos1Load {
  /** Sequence numbers the gateway acknowledged. */
  readonly acked: Set<number>;
  /** How many were published. */
  readonly published: number;
  /** Drops the current connection (after the gateway was killed). */
  dropConnection(): void;
  /** Stops publishing and waits for the last connection's acknowledgements. */
  stop(): Promise<void>;
}

export function qos1Load(port: () => number, o: { topic: string; clientPrefix: string; pauseEvery: number; pauseMs: number; inflight?: number }): Qos1Load {
  const acked = new Set<number>();
  let seq = 0;
  let stopping = false;
  let current: RawPublisher | undefined;
  const run = (async () => {
    while (!stopping) {
      const pub = new RawPublisher({ port: port(), clientId: `${o.clientPrefix}-${seq}`, qos: 1, inflight: o.inflight ?? 64, onAck: (tag) => acked.add(tag) });
      try {
        await pub.connect();
      } catch {
        await sleep(20);
        continue;
      }
      current = pub;
      while (!stopping && pub.connected) {
        await pub.room();
        if (!pub.connected || stopping) break;
        pub.publish(o.topic, String(seq), seq);
        seq++;
        if (seq % o.pauseEvery === 0) await sleep(o.pauseMs);
      }
      if (stopping && pub.connected) {
        // the last connection: wait for its acknowledgements
        const until = Date.now() + 20_000;
        while (pub.pending.size > 0 && pub.connected && Date.now() < until) await sleep(10);
        pub.close();
      }
    }
  })();
  return {
    acked,
    get published() {
      return seq;
    },
    dropConnection: () => current?.destroy(),
    stop: async () => {
      stopping = true;
      await run;
    },
  };
}

/** Each stored value's count, and what was acknowledged but is missing or stored twice. */
export function tally(rows: number[], acked: Set<number>): { lost: number[]; duplicated: Array<[number, number]>; counts: Map<number, number> } {
  const counts = new Map<number, number>();
  for (const v of rows) counts.set(v, (counts.get(v) ?? 0) + 1);
  return { counts, lost: [...acked].filter((id) => !counts.has(id)), duplicated: [...counts].filter(([, c]) => c > 1) };
}
