/** One persisted cursor per sink: the journal position every chunk before which is acknowledged. */
import { mkdirSync, readFileSync } from 'node:fs';
import { open, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { constants } from 'node:fs';

export interface CursorState {
  chunk: number;
  position: number;
}

export function readCursor(dir: string, name: string): CursorState | undefined {
  try {
    const j = JSON.parse(readFileSync(join(dir, `${name}.json`), 'utf8')) as Partial<CursorState>;
    if (typeof j.chunk === 'number' && typeof j.position === 'number') return { chunk: j.chunk, position: j.position };
  } catch {
    // absent or unreadable: the sink starts from the oldest chunk
  }
  return undefined;
}

export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, constants.O_RDONLY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Writes are serialised; the file and its directory are fsynced so a power cut keeps the cursor. */
export class JournalCursor {
  private writing: Promise<void> = Promise.resolve();
  constructor(
    readonly dir: string,
    readonly name: string,
    public state: CursorState,
  ) {
    mkdirSync(dir, { recursive: true });
  }

  advance(next: CursorState): Promise<void> {
    if (next.position <= this.state.position) return this.writing;
    this.state = next;
    this.writing = this.writing.then(() => this.persist(next));
    return this.writing;
  }

  private async persist(s: CursorState): Promise<void> {
    const file = join(this.dir, `${this.name}.json`);
    const tmp = `${file}.tmp`;
    const fh = await open(tmp, 'w');
    try {
      await fh.writeFile(JSON.stringify(s));
      await fh.datasync();
    } finally {
      await fh.close();
    }
    await rename(tmp, file);
    await fsyncDir(this.dir);
  }
}
