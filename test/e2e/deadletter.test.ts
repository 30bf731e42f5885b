import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RawPublisher } from '../../bench/lib/raw-mqtt.mjs';
import { BIN, ROOT, TestGateway } from '../helpers/gateway.js';
import { waitFor } from '../helpers/ports.js';

/** Creates the points table in a fresh chDB store with a CHECK the gateway's rows can violate. */
function prepareStore(stateDir: string): void {
  const script = `
    const { Session } = require('chdb');
    const s = new Session(process.argv[1], { installSignalHandlers: false });
    s.query('CREATE DATABASE IF NOT EXISTS fieldgate');
    s.query("CREATE TABLE fieldgate.points (ts DateTime64(3, 'UTC'), device LowCardinality(String), tag LowCardinality(String), value Float64, text String, quality UInt32, source LowCardinality(String), CONSTRAINT below_1000 CHECK value < 1000) ENGINE = MergeTree ORDER BY (device, tag, ts) SETTINGS non_replicated_deduplication_window = 1000");
    s.close();`;
  execFileSync(process.execPath, ['-e', script, join(stateDir, 'store')], { cwd: ROOT });
}

describe('rows the store refuses', () => {
  let g: TestGateway | undefined;
  afterAll(async () => {
    await g?.stop();
  });

  it('go to dead-letter files with the reason, do not block the rows behind them, and can be replayed', async () => {
    g = await TestGateway.create({ batchMaxDelay: '500ms' });
    prepareStore(g.stateDir);
    await g.start();
    const pub = new RawPublisher({ port: g.mqttPort, clientId: 'dl', qos: 1 });
    await pub.connect();
    for (const v of [1, 2, 3, 5000, 4, 5, 6, 7000, 7, 8]) pub.publish('plant/dl/v', String(v));
    while (pub.pending.size > 0) await new Promise((r) => setTimeout(r, 10));
    await g.drained();
    pub.publish('plant/dl/after', '9');
    while (pub.pending.size > 0) await new Promise((r) => setTimeout(r, 10));
    await g.drained();
    expect(await g.query("SELECT groupArray(toUInt32(value)) FROM (SELECT value FROM fieldgate.points WHERE device = 'dl' ORDER BY value)")).toBe(
      '[1,2,3,4,5,6,7,8,9]',
    );

    const dir = join(g.stateDir, 'deadletter');
    const files = readdirSync(dir).filter((f) => f.endsWith('.jsonl'));
    expect(files).toHaveLength(1);
    const letters = readFileSync(join(dir, files[0]), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(letters.map((l) => [l.topic, l.payload, l.table, l.sink])).toEqual([
      ['plant/dl/v', '5000', 'points', 'clickhouse'],
      ['plant/dl/v', '7000', 'points', 'clickhouse'],
    ]);
    expect(String(letters[0].reason)).toMatch(/below_1000/);
    expect(await g.metric('fieldgate_sink_dead_letter_rows_total{sink="clickhouse",table="points"}')).toBe(2);

    // Replay through the running gateway: the rows are journaled again and, still refused, dead-lettered again.
    const out = execFileSync(process.execPath, [BIN, 'deadletter', 'replay', '-c', g.config], { encoding: 'utf8' });
    expect(JSON.parse(out)).toEqual({ replayed: 2, files: 1 });
    expect(readdirSync(join(dir, 'replayed'))).toEqual(files);
    await waitFor(
      'replayed rows to be refused again',
      async () => (await g!.metric('fieldgate_sink_dead_letter_rows_total{sink="clickhouse",table="points"}')) === 4,
    );
    expect(g.alive).toBe(true);
  });
});
