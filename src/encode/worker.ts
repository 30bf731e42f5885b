/**
 * Worker entry (piscina): a chunk's bytes in, one RowBinary buffer per table
 * out, plus counts of what was rejected and why. Imports only encode/ and core/.
 */
import { writeFileSync } from 'node:fs';
import { Piscina } from 'piscina';
import { faultError, injectedFault } from '../core/faults.js';
import { compileSelects, type Select } from '../core/glob.js';
import type { MqttConfig } from './config.js';
import { ChunkDecoder, type ChunkResult, type TableSchemas } from './decode.js';
import { selectShared, shareFilter, type ShareSpec } from './share.js';

export interface EncodeTask {
  chunk: Uint8Array;
  /** When set, each table's rows are also written to `${spool}.${table}.rb` (for the embedded store's file() insert). */
  spool?: string;
  /** Column types of the custom tables (the sink reads them from the store). */
  schemas?: TableSchemas;
  /** The routes, and their version: a SIGHUP that changes them bumps it, and the worker rebuilds its decoder. */
  mqtt: MqttConfig;
  mqttVersion: number;
  /** A partner's share: return the values its send entries select instead of table rows. */
  share?: ShareSpec;
  /** A sink's allow-list: only the points rows it selects (and no custom tables' rows). */
  select?: Select[];
  /** The gateway_id column's value, when the sink's points table has the column. */
  gateway?: string;
}

export interface EncodeResult extends ChunkResult {
  spooled: string[];
}

let decoder: ChunkDecoder | undefined;
let filter: { key: string; keep: (device: string, tag: string) => boolean } | undefined;

/** A sink's select, compiled once for as long as it is the same. */
function sinkFilter(select: Select[]): (device: string, tag: string) => boolean {
  const key = JSON.stringify(select);
  if (filter?.key !== key) filter = { key, keep: compileSelects(select) };
  return filter.keep;
}
let version = -1;

export default function encode(task: EncodeTask): unknown {
  const f = injectedFault('encode');
  if (f?.action === 'stall') Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, f.ms ?? 1000);
  else if (f) throw faultError(f, 'encode');
  if (!decoder || version !== task.mqttVersion) {
    decoder = new ChunkDecoder(task.mqtt);
    version = task.mqttVersion;
  }
  const buf = Buffer.from(task.chunk.buffer, task.chunk.byteOffset, task.chunk.byteLength);
  // The chunk's bytes go back with the result. This thread allocates little, so V8 would collect
  // a chunk moved in only after tens of MB of them had piled up (draining a backlog of 16 MiB
  // chunks, that was +65–80 MB of RSS); the main thread collects young buffers within moments.
  const input = task.chunk.buffer as ArrayBuffer;
  if (task.share) {
    const shared = selectShared(decoder.decode(buf, task.schemas, { keep: shareFilter(task.share), ordinals: true }), task.share);
    return Piscina.move({ [Piscina.transferableSymbol]: [input], [Piscina.valueSymbol]: shared } as unknown as ArrayBuffer);
  }
  const r = decoder.decode(buf, task.schemas, { keep: task.select ? sinkFilter(task.select) : undefined, gateway: task.gateway });
  if (task.select) {
    // A sink with select stores values it names, and nothing of the custom tables.
    r.tables = r.tables.filter((t) => t.table === 'points');
    r.letters = r.letters.filter((l) => l.table === 'points');
  }
  const spooled: string[] = [];
  if (task.spool) {
    // The store reads the rows from the file, and the sink reads a refused range back from it: the
    // main thread is not sent them (tens of MB per chunk of arrays, and a major GC of its heap each time).
    for (const t of r.tables) {
      const path = `${task.spool}.${t.table}.rb`;
      writeFileSync(path, t.data);
      spooled.push(path);
      t.spooledBytes = t.data.length;
      t.data = Buffer.alloc(0);
    }
  }
  const result: EncodeResult = { ...r, spooled };
  const transfer: ArrayBufferLike[] = [];
  for (const t of r.tables) {
    if (t.spooledBytes === undefined) transfer.push(t.data.buffer);
    transfer.push(t.rowStarts.buffer, t.rowRecords.buffer);
  }
  transfer.push(r.recordStarts.buffer, input);
  return Piscina.move({ [Piscina.transferableSymbol]: transfer, [Piscina.valueSymbol]: result } as unknown as ArrayBuffer);
}
