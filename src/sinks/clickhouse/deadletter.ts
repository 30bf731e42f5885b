/**
 * Dead letters, in one place: records the store refused (or that could not be encoded), as JSON
 * lines under state_dir/deadletter with the reason and the record they came from, so they can be
 * fixed and replayed. Record → letter (`letterOf`), one write per chunk (`DeadLetters.write`), the
 * size cap (the oldest file goes first, logged), listing, and replay into the journal.
 */
import { appendFile, mkdir, readFile, readdir, rename, stat, unlink } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { RecordKind, readMqtt, readPoint, type MqttView, type Point, type PointView } from '../../core/records.js';
import type { Logger } from '../../telemetry/logger.js';

export interface DeadLetter {
  at: string;
  sink: string;
  table: string;
  chunk: number;
  reason: string;
  kind: 'mqtt' | 'point';
  topic?: string;
  client_id?: string;
  qos?: number;
  received: number;
  payload?: string;
  encoding?: 'utf8' | 'base64';
  point?: { device: string; tag: string; ts: number; value: number; text: string; quality: number };
}

/** What every letter of one refusal shares. */
export type LetterBase = Omit<DeadLetter, 'kind' | 'received'>;

/** The letter of the record whose frame starts at `fs` in a chunk's bytes; undefined for cuts and births. */
export function letterOf(bytes: Buffer, fs: number, base: LetterBase): DeadLetter | undefined {
  const len = bytes.readUInt32LE(fs);
  const kind = bytes[fs + 8];
  const s = fs + 9;
  const e = fs + 8 + len;
  if (kind === RecordKind.Point) {
    const p = readPoint(bytes, s, e, {} as PointView);
    return {
      ...base,
      kind: 'point',
      received: p.receivedMs,
      point: { device: p.device, tag: p.tag, ts: p.ts, value: p.value, text: p.text, quality: p.quality },
    };
  }
  if (kind !== RecordKind.Mqtt) return undefined;
  const m = readMqtt(bytes, s, e, {} as MqttView);
  return {
    ...base,
    kind: 'mqtt',
    topic: m.topic,
    client_id: m.clientId,
    qos: m.qos,
    received: m.receivedMs,
    ...encodePayload(bytes.subarray(m.bodyStart, m.bodyEnd)),
  };
}

export class DeadLetters {
  /** Bytes in the folder as last counted plus what was written since (the folder is listed only near the cap). */
  private bytes: number | undefined;

  constructor(
    readonly dir: string,
    private readonly maxBytes: number,
    private readonly log: Logger,
  ) {}

  /** Appends a chunk's letters in one write, then keeps the folder under its cap. */
  async write(sink: string, letters: DeadLetter[]): Promise<void> {
    if (letters.length === 0) return;
    await mkdir(this.dir, { recursive: true });
    const day = new Date().toISOString().slice(0, 10).replace(/-/g, '');
    const text = letters.map((l) => JSON.stringify(l)).join('\n') + '\n';
    await appendFile(join(this.dir, `${sink}-${day}.jsonl`), text);
    this.bytes = (this.bytes ?? (await listLetterFiles(this.dir)).reduce((a, f) => a + f.size, 0) - text.length) + text.length;
    if (this.bytes > this.maxBytes) await this.enforceCap();
  }

  private async enforceCap(): Promise<void> {
    const files = await listLetterFiles(this.dir);
    let total = files.reduce((a, f) => a + f.size, 0);
    while (total > this.maxBytes && files.length > 1) {
      const f = files.shift()!;
      await unlink(f.path).catch(() => undefined);
      total -= f.size;
      this.log.warn({ file: f.path, bytes: f.size }, 'dead letters: folder over its cap; deleted the oldest file');
    }
    this.bytes = total;
  }
}

/** The letter files, oldest first. */
export async function listLetterFiles(dir: string): Promise<Array<{ path: string; size: number; mtime: number }>> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => n.endsWith('.jsonl'));
  } catch {
    return [];
  }
  const out = [];
  for (const n of names) {
    const s = await stat(join(dir, n));
    out.push({ path: join(dir, n), size: s.size, mtime: s.mtimeMs });
  }
  return out.sort((a, b) => a.mtime - b.mtime || a.path.localeCompare(b.path));
}

/** Decodes a dead letter's payload back to bytes. */
export function letterPayload(l: DeadLetter): Buffer {
  return Buffer.from(l.payload ?? '', l.encoding === 'base64' ? 'base64' : 'utf8');
}

/** Payload as UTF-8 when it round-trips, else base64. */
export function encodePayload(body: Buffer): { payload: string; encoding: 'utf8' | 'base64' } {
  const s = body.toString('utf8');
  return Buffer.from(s, 'utf8').equals(body) ? { payload: s, encoding: 'utf8' } : { payload: body.toString('base64'), encoding: 'base64' };
}

/** What replay needs of the journal. */
export interface ReplayTarget {
  appendMqtt(receivedMs: number, qos: number, topic: string, clientId: string, body: Buffer): void;
  appendPoint(receivedMs: number, p: Point): void;
  flush(): Promise<void>;
}

/** Appends dead letters back into the journal (they decode again with the current routes) and moves their files aside. */
export async function replayDeadLetters(dir: string, journal: ReplayTarget, log: Logger): Promise<{ replayed: number; files: number }> {
  const files = await listLetterFiles(dir);
  let replayed = 0;
  const done = join(dir, 'replayed');
  for (const f of files) {
    const lines = (await readFile(f.path, 'utf8')).split('\n').filter((l) => l.trim());
    for (const line of lines) {
      let l: DeadLetter;
      try {
        l = JSON.parse(line) as DeadLetter;
      } catch {
        log.warn({ file: f.path }, 'dead letters: skipping a line that is not JSON');
        continue;
      }
      if (l.kind === 'point' && l.point) {
        journal.appendPoint(l.received, l.point);
      } else if (l.topic !== undefined) {
        journal.appendMqtt(l.received, l.qos ?? 1, l.topic, l.client_id ?? '', letterPayload(l));
      } else continue;
      replayed++;
    }
    await journal.flush();
    await mkdir(done, { recursive: true });
    await rename(f.path, join(done, basename(f.path)));
  }
  if (files.length) log.info({ replayed, files: files.length }, 'dead letters: replayed into the journal');
  return { replayed, files: files.length };
}
