/**
 * The worker hands a chunk's bytes back with its result (for table rows and for a partner's
 * share): a thread that allocates little would keep each 16 MiB chunk until tens of MB had piled
 * up (bench/share.js: +65–80 MB of RSS draining a backlog). Through a real MessageChannel, as
 * piscina moves them: the chunk arrives on the other side, whole, and is gone from the worker's.
 */
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { describe, expect, it } from 'vitest';
import encode, { type EncodeTask } from '../../src/encode/worker.js';
import { TEST_MQTT, mqttChunk } from '../helpers/frames.js';

/** What piscina does with a worker's result: post its value with its transfer list. */
function post(result: unknown): Promise<{ received: ArrayBuffer[] }> {
  const { port1, port2 }: { port1: MessagePort; port2: MessagePort } = new MessageChannel();
  const moved = result as Record<symbol, unknown>;
  const list = (moved[Piscina.transferableSymbol] ?? []) as ArrayBuffer[];
  return new Promise((resolve) => {
    port2.once('message', (m: { list: ArrayBuffer[] }) => {
      port1.close();
      resolve({ received: m.list });
    });
    port1.postMessage({ value: moved[Piscina.valueSymbol], list }, list);
  });
}

function task(extra: Partial<EncodeTask>): { t: EncodeTask; bytes: number; chunk: ArrayBuffer } {
  const data = mqttChunk([
    { topic: 'plant/m1/temp', body: '21.5' },
    { topic: 'bulk/m1/blob', body: Buffer.alloc(64 * 1024, 120) },
  ]);
  const own = new Uint8Array(new ArrayBuffer(data.length));
  own.set(data);
  return { t: { chunk: own, mqtt: TEST_MQTT, mqttVersion: 1, ...extra }, bytes: data.length, chunk: own.buffer };
}

describe('the encode worker', () => {
  const cases: Array<[string, Partial<EncodeTask>]> = [
    ['table rows', {}],
    ["a partner's share", { share: { entries: [[{ device: 'm1', tag: 'temp' }]] } }],
  ];
  for (const [name, extra] of cases) {
    it(`gives the chunk's bytes back with ${name}`, async () => {
      const { t, bytes, chunk } = task(extra);
      const r = encode(t);
      const { received } = await post(r);
      expect(chunk.byteLength).toBe(0); // moved out of the worker's heap
      expect(received.some((b) => b.byteLength === bytes)).toBe(true);
    });
  }
});
