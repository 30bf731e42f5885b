/**
 * Rows the store refused, as JSON lines under state_dir/deadletter, with the
 * reason and the record they came from, so they can be fixed and replayed.
 * The folder is size-capped: the oldest file goes first (counted).
 */
import { appendFile, mkdir, readdir, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
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

export class DeadLetters {
  constructor(
    readonly dir: string,
    private readonly maxBytes: number,
    private readonly log: Logger,
  ) {}

  async write(sink: string, letters: DeadLetter[]): Promise<void> {
    if (letters.length === 0) return;
    await mkdir(this.dir, { recursive: true });
    const day = new Date().toISOString().slice(0, 10).replace(/-/g, '');
    const file = join(this.dir, `${sink}-${day}.jsonl`);
    await appendFile(file, letters.map((l) => JSON.stringify(l)).join('\n') + '\n');
    await this.enforceCap();
  }

  private async enforceCap(): Promise<void> {
    const files = await listFiles(this.dir);
    let total = files.reduce((a, f) => a + f.size, 0);
    while (total > this.maxBytes && files.length > 1) {
      const f = files.shift()!;
      await unlink(f.path).catch(() => undefined);
      total -= f.size;
      this.log.warn({ file: f.path, bytes: f.size }, 'dead letters: folder over its cap; deleted the oldest file');
    }
  }
}

export async function listFiles(dir: string): Promise<Array<{ path: string; size: number; mtime: number }>> {
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
