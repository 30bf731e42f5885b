/**
 * Register words → typed values. Pure: the poller hands it the bytes of a read
 * (big-endian words, as they came off the wire).
 *
 * Byte orders name where the value's bytes A (most significant) … sit on the
 * wire. Every order is two independent swaps: the order of the words, and the
 * order of the bytes inside each word. ABCD/ABCDEFGH: neither; CDAB/GHEFCDAB:
 * words; BADC/BADCFEHG: bytes; DCBA/HGFEDCBA: both.
 */

export type RegisterType = 'bool' | 'int16' | 'uint16' | 'int32' | 'uint32' | 'int64' | 'uint64' | 'float32' | 'float64' | 'string';
export type ByteOrder = 'ABCD' | 'CDAB' | 'BADC' | 'DCBA' | 'ABCDEFGH' | 'GHEFCDAB' | 'BADCFEHG' | 'HGFEDCBA';

export const BYTE_ORDERS: readonly ByteOrder[] = ['ABCD', 'CDAB', 'BADC', 'DCBA', 'ABCDEFGH', 'GHEFCDAB', 'BADCFEHG', 'HGFEDCBA'];

const SWAPS: Record<ByteOrder, { words: boolean; bytes: boolean }> = {
  ABCD: { words: false, bytes: false },
  ABCDEFGH: { words: false, bytes: false },
  CDAB: { words: true, bytes: false },
  GHEFCDAB: { words: true, bytes: false },
  BADC: { words: false, bytes: true },
  BADCFEHG: { words: false, bytes: true },
  DCBA: { words: true, bytes: true },
  HGFEDCBA: { words: true, bytes: true },
};

/** Registers a value of this type occupies. */
export function registerCount(type: RegisterType, length = 0): number {
  switch (type) {
    case 'bool':
    case 'int16':
    case 'uint16':
      return 1;
    case 'int32':
    case 'uint32':
    case 'float32':
      return 2;
    case 'int64':
    case 'uint64':
    case 'float64':
      return 4;
    case 'string':
      return Math.ceil(length / 2);
  }
}

export interface Decoded {
  value: number;
  /** Exact text for 64-bit integers past 2^53, and strings. */
  text: string;
}

/** Puts the value's bytes in big-endian order (A first) into `out`. */
function normalise(src: Buffer, at: number, words: number, order: ByteOrder, out: Buffer): void {
  const s = SWAPS[order];
  for (let w = 0; w < words; w++) {
    const from = at + 2 * (s.words ? words - 1 - w : w);
    out[2 * w] = src[from + (s.bytes ? 1 : 0)]!;
    out[2 * w + 1] = src[from + (s.bytes ? 0 : 1)]!;
  }
}

const scratch = Buffer.alloc(8);

export interface RegisterTag {
  type: RegisterType;
  order: ByteOrder;
  bit?: number | undefined;
  length?: number | undefined;
  scale: number;
  offset: number;
}

/** Decodes one tag whose first register is at word `word` of `regs`. */
export function decodeRegisters(regs: Buffer, word: number, t: RegisterTag): Decoded {
  const at = word * 2;
  if (t.type === 'string') {
    const n = registerCount('string', t.length);
    const bytes = Buffer.alloc(n * 2);
    for (let w = 0; w < n; w++) {
      const swap = SWAPS[t.order].bytes;
      bytes[2 * w] = regs[at + 2 * w + (swap ? 1 : 0)]!;
      bytes[2 * w + 1] = regs[at + 2 * w + (swap ? 0 : 1)]!;
    }
    const text = bytes.toString('latin1', 0, t.length).replace(/\0+$/, '');
    return { value: Number.NaN, text };
  }
  const words = registerCount(t.type);
  normalise(regs, at, words, t.order, scratch);
  let raw: number;
  let exact = '';
  switch (t.type) {
    case 'bool':
      raw = (scratch.readUInt16BE(0) >> (t.bit ?? 0)) & 1;
      break;
    case 'int16':
      raw = scratch.readInt16BE(0);
      break;
    case 'uint16':
      raw = scratch.readUInt16BE(0);
      break;
    case 'int32':
      raw = scratch.readInt32BE(0);
      break;
    case 'uint32':
      raw = scratch.readUInt32BE(0);
      break;
    case 'float32':
      raw = scratch.readFloatBE(0);
      break;
    case 'float64':
      raw = scratch.readDoubleBE(0);
      break;
    case 'int64':
    case 'uint64': {
      const big = t.type === 'int64' ? scratch.readBigInt64BE(0) : scratch.readBigUInt64BE(0);
      raw = Number(big);
      if (!Number.isSafeInteger(raw) && t.scale === 1 && t.offset === 0) exact = big.toString();
      break;
    }
  }
  return { value: raw * t.scale + t.offset, text: exact };
}

/** A coil or discrete input from a bit read (modbus-serial gives booleans). */
export function decodeBit(bits: readonly boolean[], index: number, t: { scale: number; offset: number }): Decoded {
  return { value: (bits[index] ? 1 : 0) * t.scale + t.offset, text: '' };
}
