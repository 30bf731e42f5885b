import { describe, expect, it } from 'vitest';
import { decodeRegisters, type ByteOrder, type RegisterTag } from '../../../src/sources/modbus/decode.js';
import { wireBytes } from '../../helpers/modbus.js';

const tag = (type: RegisterTag['type'], order: ByteOrder = 'ABCD', extra: Partial<RegisterTag> = {}): RegisterTag => ({
  type,
  order,
  scale: 1,
  offset: 0,
  ...extra,
});

describe('Modbus register decoding', () => {
  it('reads the documented orders of a float32 (123.456 = 0x42F6E979)', () => {
    expect([...wireBytes(Buffer.from('42f6e979', 'hex'), 'CDAB')]).toEqual([0xe9, 0x79, 0x42, 0xf6]);
    expect([...wireBytes(Buffer.from('42f6e979', 'hex'), 'BADC')]).toEqual([0xf6, 0x42, 0x79, 0xe9]);
    expect([...wireBytes(Buffer.from('42f6e979', 'hex'), 'DCBA')]).toEqual([0x79, 0xe9, 0xf6, 0x42]);
    for (const o of ['ABCD', 'CDAB', 'BADC', 'DCBA'] as const) {
      expect(decodeRegisters(wireBytes(Buffer.from('42f6e979', 'hex'), o), 0, tag('float32', o)).value).toBeCloseTo(123.456, 3);
    }
  });

  it.each(['ABCDEFGH', 'GHEFCDAB', 'BADCFEHG', 'HGFEDCBA'] as const)('reads 64-bit values in %s exactly', (o) => {
    const be = Buffer.alloc(8);
    be.writeBigUInt64BE(18446744073709551615n);
    expect(decodeRegisters(wireBytes(be, o), 0, tag('uint64', o))).toEqual({ value: 2 ** 64, text: '18446744073709551615' });
    be.writeBigInt64BE(-9007199254740993n);
    expect(decodeRegisters(wireBytes(be, o), 0, tag('int64', o))).toEqual({ value: -9007199254740992, text: '-9007199254740993' });
    be.writeDoubleBE(-1.5e300);
    expect(decodeRegisters(wireBytes(be, o), 0, tag('float64', o)).value).toBe(-1.5e300);
    be.writeBigInt64BE(42n);
    expect(decodeRegisters(wireBytes(be, o), 0, tag('int64', o))).toEqual({ value: 42, text: '' });
  });

  it('reads 16- and 32-bit integers, scale and offset, at an offset in the read', () => {
    const regs = Buffer.from('0000' + 'ff38' + 'fffe0000' + '0001e240', 'hex');
    expect(decodeRegisters(regs, 1, tag('int16')).value).toBe(-200);
    expect(decodeRegisters(regs, 1, tag('uint16')).value).toBe(65336);
    expect(decodeRegisters(regs, 1, tag('int16', 'ABCD', { scale: 0.1, offset: 5 })).value).toBeCloseTo(-15, 10);
    expect(decodeRegisters(regs, 2, tag('int32', 'CDAB')).value).toBe(0x0000fffe);
    expect(decodeRegisters(regs, 4, tag('uint32')).value).toBe(123456);
  });

  it('reads bits of a register and strings', () => {
    const regs = Buffer.from('0005' + Buffer.from('RECIPE-7').toString('hex') + '4142' + '4300', 'hex');
    expect(decodeRegisters(regs, 0, tag('bool', 'ABCD', { bit: 0 })).value).toBe(1);
    expect(decodeRegisters(regs, 0, tag('bool', 'ABCD', { bit: 1 })).value).toBe(0);
    expect(decodeRegisters(regs, 0, tag('bool', 'ABCD', { bit: 2 })).value).toBe(1);
    expect(decodeRegisters(regs, 1, tag('string', 'ABCD', { length: 8 })).text).toBe('RECIPE-7');
    expect(decodeRegisters(regs, 5, tag('string', 'ABCD', { length: 4 })).text).toBe('ABC');
    expect(decodeRegisters(regs, 5, tag('string', 'BADC', { length: 4 })).text).toBe('BA\0C'.replace(/\0+$/, ''));
  });
});
