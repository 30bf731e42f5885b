import { PeerProcess } from './peer.js';
import { freePort } from './ports.js';

export interface ModbusSpec {
  holding?: Record<number, number>;
  input?: Record<number, number>;
  coils?: Record<number, boolean>;
  discrete?: Record<number, boolean>;
  illegal?: number[];
  moving?: number[];
  unitFail?: Record<number, number>;
}

/** A real Modbus TCP server (modbus-serial ServerTCP) in a child process. */
export class ModbusServer extends PeerProcess {
  static async create(spec: ModbusSpec, port?: number): Promise<ModbusServer> {
    const s = new ModbusServer('test/helpers/modbus-server.mjs', port ?? (await freePort()), PeerProcess.writeSpec(spec, 'fg-mb-'));
    await s.start();
    return s;
  }

  async stats(): Promise<{ holding: number; input: number; reads: Array<[string, number, number]> }> {
    return (await this.ask<{ stats: never }>('stats')).stats;
  }
}

/** Lays a big-endian value's bytes on the wire in a byte order (the inverse of decoding). */
export function wireBytes(be: Buffer, order: string): Buffer {
  const words = be.length / 2;
  const wordSwap = ['CDAB', 'GHEFCDAB', 'DCBA', 'HGFEDCBA'].includes(order);
  const byteSwap = ['BADC', 'BADCFEHG', 'DCBA', 'HGFEDCBA'].includes(order);
  const out = Buffer.alloc(be.length);
  for (let w = 0; w < words; w++) {
    const src = wordSwap ? words - 1 - w : w;
    out[2 * w] = be[2 * src + (byteSwap ? 1 : 0)]!;
    out[2 * w + 1] = be[2 * src + (byteSwap ? 0 : 1)]!;
  }
  return out;
}

/** The same, as register words for a server's register map. */
export function wireWords(be: Buffer, order: string): number[] {
  const b = wireBytes(be, order);
  return Array.from({ length: b.length / 2 }, (_, i) => b.readUInt16BE(2 * i));
}
