/**
 * The sink runner at its ports: a real journal on a temp folder, a fake worker pool (the decoder
 * in process) and a fake sink. Chunks go in order, the cursor follows what the sink took, a chunk
 * the workers cannot encode goes to the dead letters instead of holding back the rest.
 */
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import type { Piscina } from 'piscina';
import { ChunkDecoder } from '../../src/encode/decode.js';
import type { EncodeTask } from '../../src/encode/worker.js';
import { SinkRunner } from '../../src/pipeline/runner.js';
import type { ClickHouseSink } from '../../src/sinks/clickhouse/sink.js';
import type { ChunkTables } from '../../src/core/ports.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { createMetrics } from '../../src/telemetry/metrics.js';
import { TEST_MQTT } from '../helpers/frames.js';
import { openJournal, tempDir } from '../helpers/journal.js';
import { waitFor } from '../helpers/ports.js';

function fakePool(fail: (chunk: Buffer) => boolean): Piscina {
  const decoder = new ChunkDecoder(TEST_MQTT);
  return {
    run(task: EncodeTask, o: { signal?: AbortSignal }) {
      const buf = Buffer.from(task.chunk.buffer, task.chunk.byteOffset, task.chunk.byteLength);
      if (fail(buf)) {
        // A worker that never finishes: only the runner's time limit ends it.
        return new Promise((_res, rej) => o.signal?.addEventListener('abort', () => rej(Object.assign(new Error('aborted'), { name: 'AbortError' }))));
      }
      return Promise.resolve({ ...decoder.decode(buf), spooled: [] });
    },
  } as unknown as Piscina;
}

function fakeSink() {
  const inserted: ChunkTables[] = [];
  const letters: Array<{ chunk: number; reason: string }> = [];
  const sink = {
    name: 's',
    state: 'connected',
    lastActivityAt: Date.now(),
    tableSchemas: {},
    connect: () => Promise.resolve(),
    insertChunk: (c: ChunkTables) => (inserted.push(c), Promise.resolve()),
    deadLetterChunk: (chunk: number, _b: Buffer, reason: string) => (letters.push({ chunk, reason }), Promise.resolve(1)),
    stop: () => undefined,
  };
  return { sink: sink as unknown as ClickHouseSink, inserted, letters };
}

describe('SinkRunner at its ports', () => {
  it('hands chunks to the sink in order and moves the cursor after each', async () => {
    const { journal } = openJournal(tempDir('fg-run-'), {}, { max_rows: 10 });
    const { sink, inserted } = fakeSink();
    const runner = new SinkRunner({
      journal,
      pool: fakePool(() => false),
      sink,
      metrics: createMetrics(new Registry(), false),
      log: createLogger('silent'),
      routes: () => ({ cfg: TEST_MQTT, version: 0 }),
      encodeTimeoutMs: 5000,
      stallAfterMs: 60_000,
    });
    runner.start();
    for (let i = 0; i < 35; i++) journal.appendMqtt(1000 + i, 1, `plant/m/v${i}`, 'c', Buffer.from(String(i)));
    await journal.flush();
    await waitFor('every chunk at the sink', () => inserted.length === 4, 5000, 10);
    expect(inserted.map((c) => c.chunkId)).toEqual([1, 2, 3, 4]);
    expect(inserted.map((c) => c.tables[0].rows)).toEqual([10, 10, 10, 5]);
    await waitFor('the cursor', () => journal.lag('s').chunks === 0, 5000, 10);
    expect(journal.cursor('s').state.chunk).toBe(4);
    await runner.stop(1000);
    await journal.close();
  });

  it('sends a chunk the workers cannot encode in time to the dead letters, and goes on', async () => {
    const { journal } = openJournal(tempDir('fg-run-'), {}, { max_rows: 5 });
    const { sink, inserted, letters } = fakeSink();
    const pool = fakePool((b) => b.includes('poison'));
    const runner = new SinkRunner({
      journal,
      pool,
      sink,
      metrics: createMetrics(new Registry(), false),
      log: createLogger('silent'),
      routes: () => ({ cfg: TEST_MQTT, version: 0 }),
      encodeTimeoutMs: 50,
      stallAfterMs: 60_000,
    });
    runner.start();
    for (let i = 0; i < 15; i++) journal.appendMqtt(1000 + i, 1, `plant/m/v${i}`, 'c', Buffer.from(i === 7 ? 'poison' : String(i)));
    await journal.flush();
    await waitFor('the chunks after the poisoned one', () => inserted.length === 2 && letters.length === 1, 5000, 10);
    expect(letters[0]).toMatchObject({ chunk: 2 });
    expect(letters[0].reason).toMatch(/encoding took longer than 50 ms/);
    expect(inserted.map((c) => c.chunkId)).toEqual([1, 3]);
    await waitFor('the cursor past all three', () => journal.cursor('s').state.chunk === 3, 5000, 10);
    await runner.stop(1000);
    await journal.close();
  });
});
