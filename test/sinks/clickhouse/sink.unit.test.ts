/**
 * The sink against a fake at its port (Transport): what it sends, in which order, with which
 * token, and what it does with each kind of failure. No ClickHouse, no build.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/load.js';
import { ChunkDecoder } from '../../../src/encode/decode.js';
import { DeadLetters, type DeadLetter } from '../../../src/sinks/clickhouse/deadletter.js';
import { ClickHouseSink } from '../../../src/sinks/clickhouse/sink.js';
import { TransportError, type InsertBody, type Transport } from '../../../src/sinks/clickhouse/transport.js';
import { createLogger } from '../../../src/telemetry/logger.js';
import { createMetrics } from '../../../src/telemetry/metrics.js';
import { TEST_MQTT, mqttChunk } from '../../helpers/frames.js';
import { tempDir } from '../../helpers/journal.js';

/** A store that answers from a script: each insert takes the next outcome (ok when the script is empty). */
class FakeStore implements Transport {
  readonly kind = 'http' as const;
  readonly target = 'fake';
  execs: string[] = [];
  inserts: Array<{ table: string; rows: number; settings: Record<string, string | number> }> = [];
  outcomes: Array<Error | 'ok'> = [];
  constructor(private readonly version = '23.8.1.1') {}
  exec(sql: string): Promise<string> {
    this.execs.push(sql);
    if (sql === 'SELECT version()') return Promise.resolve(this.version);
    if (sql.startsWith('SELECT count() FROM system.')) return Promise.resolve('1');
    return Promise.resolve('');
  }
  insert(table: string, body: InsertBody, settings: Record<string, string | number>): Promise<void> {
    const o = this.outcomes.shift() ?? 'ok';
    if (o !== 'ok') return Promise.reject(o);
    this.inserts.push({ table, rows: body.data.length, settings });
    return Promise.resolve();
  }
  query(): Promise<Buffer> {
    return Promise.resolve(Buffer.alloc(0));
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

function sinkWith(store: FakeStore) {
  const cfg = parseConfig('state_dir: /tmp/x\nclickhouse: { url: "http://127.0.0.1:1", retry_initial: 1ms, retry_max: 5ms }', 'f.yaml', {}).config!;
  const metrics = createMetrics(new Registry(), false);
  const log = createLogger('silent');
  const sink = new ClickHouseSink({
    name: 'clickhouse',
    cfg: cfg.clickhouse,
    transport: store,
    metrics,
    log,
    deadLetters: new DeadLetters(tempDir('fg-dl-'), 1 << 20, log),
    reread: () => Promise.resolve(undefined),
    tokenPrefix: 'gw:j1',
    gatewayId: 'gw',
  });
  return { sink, metrics };
}

const chunk = (id: number) => ({
  chunkId: id,
  tables: [{ table: 'points', data: Buffer.alloc(30, 1), rows: 3, rowStarts: Uint32Array.from([0, 10, 20]), rowRecords: Uint32Array.from([0, 1, 2]) }],
  recordStarts: Uint32Array.from([0, 10, 20]),
  spooled: [],
  firstReceived: 1,
  lastReceived: 2,
});

describe('ClickHouseSink at its port', () => {
  it('creates the tables on connect and inserts each chunk once with its deduplication token', async () => {
    const store = new FakeStore();
    const { sink } = sinkWith(store);
    await sink.connect();
    expect(sink.state).toBe('connected');
    expect(store.execs.some((s) => s.startsWith('CREATE TABLE IF NOT EXISTS `fieldgate`.`points`'))).toBe(true);
    await sink.insertChunk(chunk(7));
    expect(store.inserts).toEqual([
      {
        table: '`fieldgate`.`points`',
        rows: 30,
        settings: { insert_deduplication_token: 'gw:j1:clickhouse:7:points', deduplicate_blocks_in_dependent_materialized_views: 1 },
      },
    ]);
  });

  it('retries a network failure with backoff and the same token, and says buffering meanwhile', async () => {
    const store = new FakeStore();
    const { sink, metrics } = sinkWith(store);
    await sink.connect();
    store.outcomes = [
      new TransportError('connect ECONNREFUSED', undefined, 'ECONNREFUSED'),
      new TransportError('connect ECONNREFUSED', undefined, 'ECONNREFUSED'),
    ];
    await sink.insertChunk(chunk(8));
    expect(store.inserts.map((i) => i.settings.insert_deduplication_token)).toEqual(['gw:j1:clickhouse:8:points']);
    expect((await metrics.sinkRetries.get()).values.find((v) => v.labels.reason === 'network')?.value).toBe(2);
    expect(sink.state).toBe('connected');
  });

  it('creates a table that vanished and inserts again', async () => {
    const store = new FakeStore();
    const { sink } = sinkWith(store);
    await sink.connect();
    const points = (s: string) => s.startsWith('CREATE TABLE IF NOT EXISTS `fieldgate`.`points` (');
    const ddlBefore = store.execs.filter(points).length;
    store.outcomes = [new TransportError('Code: 60. DB::Exception: Table fieldgate.points does not exist. (UNKNOWN_TABLE)', 404)];
    await sink.insertChunk(chunk(9));
    expect(store.execs.filter(points).length).toBe(ddlBefore + 1);
    expect(store.inserts).toHaveLength(1);
  });

  it('without a token setting (old servers) sends no token', async () => {
    const store = new FakeStore('18.16.1');
    store.exec = function (sql: string) {
      this.execs.push(sql);
      if (sql === 'SELECT version()') return Promise.resolve('18.16.1');
      if (sql.startsWith('SELECT count() FROM system.')) return Promise.resolve('0');
      return Promise.resolve('');
    };
    const { sink } = sinkWith(store);
    await sink.connect();
    await sink.insertChunk(chunk(1));
    expect(store.inserts[0].settings).toEqual({});
    expect(store.execs.some((s) => s.includes('ts Int64'))).toBe(true);
  });

  it('splits a refused insert down to the bad rows and writes their dead letters once per chunk', async () => {
    const store = new FakeStore();
    const bytes = mqttChunk([
      { topic: 'json/a', body: '{"s":"ok1"}' },
      { topic: 'json/b', body: '{"s":"BAD1"}' },
      { topic: 'json/c', body: '{"s":"ok2"}' },
      { topic: 'json/d', body: '{"s":"BAD2"}' },
    ]);
    const r = new ChunkDecoder(TEST_MQTT).decode(bytes);
    const writes: number[] = [];
    const dir = tempDir('fg-dl-');
    const log = createLogger('silent');
    const letters = new (class extends DeadLetters {
      override write(sink: string, l: DeadLetter[]): Promise<void> {
        writes.push(l.length);
        return super.write(sink, l);
      }
    })(dir, 1 << 20, log);
    const cfg = parseConfig('state_dir: /tmp/x\nclickhouse: { url: "http://127.0.0.1:1", retry_initial: 1ms, retry_max: 5ms }', 'f.yaml', {}).config!;
    const sink = new ClickHouseSink({
      name: 'clickhouse',
      cfg: cfg.clickhouse,
      transport: store,
      metrics: createMetrics(new Registry(), false),
      log,
      deadLetters: letters,
      reread: () => Promise.resolve(bytes),
      tokenPrefix: 'gw:j1',
      gatewayId: 'gw',
    });
    await sink.connect();
    store.insert = function (table: string, body: InsertBody, settings: Record<string, string | number>) {
      if (body.data.includes('BAD')) return Promise.reject(new TransportError('Code: 27. DB::Exception: Cannot parse input', 500));
      this.inserts.push({ table, rows: body.data.length, settings });
      return Promise.resolve();
    };
    await sink.insertChunk({ chunkId: 4, ...r, spooled: [] });
    expect(writes).toEqual([2]);
    const lines = readFileSync(join(dir, readdirSync(dir)[0]), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as DeadLetter);
    expect(lines.map((l) => l.topic)).toEqual(['json/b', 'json/d']);
    expect(lines[0].reason).toContain('Cannot parse input');
    // The good rows went in, each range under its own token.
    expect(store.inserts.length).toBeGreaterThanOrEqual(2);
    expect(store.inserts.every((i) => String(i.settings.insert_deduplication_token).startsWith('gw:j1:clickhouse:4:points'))).toBe(true);
  });

  it('stops waiting out a retry when stopped', async () => {
    const store = new FakeStore();
    const { sink } = sinkWith(store);
    await sink.connect();
    store.outcomes = Array.from({ length: 1000 }, () => new TransportError('connect ECONNREFUSED', undefined, 'ECONNREFUSED'));
    const p = sink.insertChunk(chunk(2));
    setTimeout(() => sink.stop(), 30);
    await expect(p).rejects.toThrow(/stopped/);
  });
});
