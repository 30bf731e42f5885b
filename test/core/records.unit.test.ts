/** The journal's frame CRC against zlib's CRC-32, at every length and alignment a frame can have. */
import { randomBytes } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { crc32Range } from '../../src/core/records.js';

describe('crc32Range', () => {
  it('equals zlib.crc32 for every length from 0 to 300 bytes at offsets 0 to 7', () => {
    const buf = randomBytes(320);
    let checked = 0;
    for (let len = 0; len <= 300; len++)
      for (let off = 0; off < 8; off++) {
        expect(crc32Range(buf, off, off + len), `len ${len} offset ${off}`).toBe(crc32(buf.subarray(off, off + len)));
        checked++;
      }
    expect(checked).toBe(301 * 8);
  });

  it('sees a single flipped bit anywhere in a short frame', () => {
    const buf = randomBytes(60);
    const good = crc32Range(buf, 0, buf.length);
    for (let bit = 0; bit < buf.length * 8; bit++) {
      buf[bit >> 3] ^= 1 << (bit & 7);
      expect(crc32Range(buf, 0, buf.length)).not.toBe(good);
      buf[bit >> 3] ^= 1 << (bit & 7);
    }
  });
});
