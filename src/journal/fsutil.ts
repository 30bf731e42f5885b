/** Small file-system helpers of the journal. */
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';

/** Makes a directory's entries (a new file, a rename) durable. */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, constants.O_RDONLY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
