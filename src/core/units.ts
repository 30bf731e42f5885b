/** Parsers for the human units the configuration accepts: durations and byte sizes. */

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)$/;
const DURATION_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000, y: 365 * 86_400_000 };

/** "500ms", "1s", "5m", "2h", "90d", "2w", "1y" (365 days) → milliseconds; undefined when it is not a duration. */
export function parseDuration(text: string): number | undefined {
  const m = DURATION.exec(text.trim());
  if (!m) return undefined;
  return Math.round(Number(m[1]) * DURATION_MS[m[2]]);
}

const BYTES = /^(\d+(?:\.\d+)?)\s*(B|KB|KiB|MB|MiB|GB|GiB|TB|TiB)?$/;
const BYTES_MUL: Record<string, number> = {
  B: 1,
  KB: 1e3,
  KiB: 1024,
  MB: 1e6,
  MiB: 1024 ** 2,
  GB: 1e9,
  GiB: 1024 ** 3,
  TB: 1e12,
  TiB: 1024 ** 4,
};

/** "64MiB", "1GB", "4096" → bytes; undefined when it is not a size. */
export function parseBytes(text: string): number | undefined {
  const m = BYTES.exec(text.trim());
  if (!m) return undefined;
  return Math.round(Number(m[1]) * BYTES_MUL[m[2] ?? 'B']);
}
