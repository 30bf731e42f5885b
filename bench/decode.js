// The two stages behind a stored point, each alone on one thread, so a change to either is
// measured without the rest of the gateway on the same two cores:
// - decode: a worker's ChunkDecoder over a journal chunk of 5,000 MQTT records (JSON arrays of
//   100 points; single numbers; Sparkplug B NDATA of 100 metrics by alias), best of N passes, µs per point;
// - store: 500,000-row RowBinary inserts into chDB (the points table as the sink makes it, with
//   and without the rollups), the insert's wall and process CPU time per insert (average of the
//   later inserts).
//
//   node bench/decode.js           decode 60 passes, store 10 inserts per variant
//   node bench/decode.js --short   decode 20 passes, store 4 inserts
//
// Figures only, no guard: the end-to-end figures and their guard are bench/ingest.js's.
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './lib/gateway.mjs';

const SHORT = process.argv.includes('--short');
const PASSES = SHORT ? 20 : 60;
const INSERTS = SHORT ? 4 : 10;
const dist = (p) => import(join(ROOT, 'dist', p));
const { writeMqtt, writeBirth, sealFrame } = await dist('core/records.js');
const { encodeBirth, payload } = await dist('core/sparkplug.js');
const { ChunkDecoder } = await dist('encode/decode.js');
const { PointsEncoder } = await dist('encode/points.js');
const { ChdbTransport } = await dist('sinks/clickhouse/chdb-client.js');
const { insertSettings } = await dist('sinks/clickhouse/sink.js');
const { pointsDdl, pointsStructure } = await dist('sinks/clickhouse/ddl.js');

function chunkOf(topic, body, records, birth) {
  const b = Buffer.alloc(records * (body.length + topic.length + 64) + (birth ? birth.length + 64 : 0));
  let o = 0;
  const now = Date.now();
  // A Sparkplug edge node's alias table leads the chunk, as the host journals it.
  if (birth) o += sealFrame(b, o, writeBirth(b, o + 8, now, birth));
  for (let i = 0; i < records; i++) o += sealFrame(b, o, writeMqtt(b, o + 8, now + i, 1, topic, 'bench-1', body));
  return b.subarray(0, o);
}

function decode(label, topic, body, pointsPerRecord, birth) {
  const routes = [
    { topic: 'json/{device}', format: 'json', device: '{device}', tag: '' },
    { topic: 'plant/{device}/{tag+}', format: 'number', device: '{device}', tag: '{tag}' },
    { topic: 'spBv1.0/#', format: 'sparkplug', device: '', tag: '' },
  ];
  const d = new ChunkDecoder({ routes, unmatched: 'reject', max_past: 3_650 * 86_400_000, max_future: 86_400_000 });
  const records = 5000;
  const chunk = chunkOf(topic, Buffer.from(body), records, birth);
  let best = Infinity;
  for (let k = 0; k < PASSES; k++) {
    const t = performance.now();
    const r = d.decode(chunk, {}, { gateway: 'gw' });
    best = Math.min(best, performance.now() - t);
    if (r.tables[0]?.rows !== records * pointsPerRecord) throw new Error(`${label}: ${r.tables[0]?.rows} rows, ${JSON.stringify(r.rejects)}`);
  }
  console.log(`decode  ${label.padEnd(22)} ${((best * 1000) / (records * pointsPerRecord)).toFixed(3)} µs per point (best of ${PASSES})`);
}

async function store(label, rollups) {
  try {
    createRequire(join(ROOT, 'package.json')).resolve('chdb');
  } catch {
    console.log(`store   ${label.padEnd(22)} skipped: the optional package chdb is not installed`);
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'fg-bench-store-'));
  // The sink's own pieces: its transport (the SQL of a file() insert), its DDL and its insert settings.
  const store = new ChdbTransport(dir);
  try {
    const f = { version: '26', major: 26, minor: 0, dedupToken: true, dedupWindow: true, embedded: true };
    const o = { database: 'fg', table: 'points', ttlMs: 90 * 86_400_000, dedupWindow: 10_000 };
    for (const q of pointsDdl(f, rollups ? { ...o, rollups: { minuteMs: 365 * 86_400_000, hourMs: 5 * 365 * 86_400_000 } } : o)) await store.exec(q);
    const structure = pointsStructure(f, true);
    const rows = 500_000;
    const enc = new PointsEncoder();
    enc.setGateway('gw');
    let t0 = Date.now();
    const wall = [];
    const cpu = [];
    for (let k = 0; k < INSERTS; k++) {
      for (let i = 0; i < rows; i++) enc.row(t0 + Math.floor(i / 100), 'bench', `t${i % 100}`, (i % 100) * 1.5, '', 0, 'mqtt', i);
      t0 += rows / 100;
      const data = enc.finish().data;
      // Spooled as a worker does: the insert reads the file.
      const file = join(dir, `c${k}.rb`);
      writeFileSync(file, data);
      const c0 = process.cpuUsage();
      const w0 = performance.now();
      await store.insert('fg.points', { data, file, structure }, insertSettings(f, { embedded_max_memory: 2_000_000_000 }, `bench-${k}`));
      wall.push(performance.now() - w0);
      const c = process.cpuUsage(c0);
      cpu.push((c.user + c.system) / 1000);
    }
    const later = (a) => a.slice(Math.min(2, a.length - 1)).reduce((x, y, _, all) => x + y / all.length, 0);
    console.log(
      `store   ${label.padEnd(22)} ${later(wall).toFixed(0)} ms wall, ${later(cpu).toFixed(0)} ms CPU per ${rows} rows (${((later(cpu) * 1000) / rows).toFixed(2)} µs CPU per row)`,
    );
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

console.log(`fieldgate decode and store stages, node ${process.version}`);
decode('JSON array of 100', 'json/bench', JSON.stringify(Array.from({ length: 100 }, (_, i) => ({ tag: `t${i}`, value: i * 1.5 }))), 100);
decode('single value', 'plant/line1/speed', '1234.5', 1);
// Sparkplug B NDATA of 100 metrics by alias, after the edge node's birth.
{
  const names = Array.from({ length: 100 }, (_, k) => `m${k}`);
  const P = payload();
  const ndata = Buffer.from(
    P.encode({ timestamp: Date.now(), seq: 1, metrics: names.map((_, k) => ({ alias: k, datatype: 10, double_value: k * 1.5 })) }).finish(),
  );
  const birth = encodeBirth({ node: 'bench/edge1', metrics: names.map((n, k) => [k, n, 10, '']) });
  decode('Sparkplug NDATA of 100', 'spBv1.0/bench/NDATA/edge1', ndata, 100, birth);
}
await store('points', false);
await store('points + rollups', true);
