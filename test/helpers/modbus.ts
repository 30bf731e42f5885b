import { fork, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './gateway.js';
import { tempDir } from './journal.js';
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
export class ModbusServer {
  proc: ChildProcess | undefined;
  private constructor(
    readonly port: number,
    private readonly specFile: string,
  ) {}

  static async create(spec: ModbusSpec, port?: number): Promise<ModbusServer> {
    const file = join(tempDir('fg-mb-'), 'spec.json');
    writeFileSync(file, JSON.stringify(spec));
    const s = new ModbusServer(port ?? (await freePort()), file);
    await s.start();
    return s;
  }

  async start(): Promise<void> {
    const p = fork(join(ROOT, 'test/helpers/modbus-server.mjs'), [String(this.port), this.specFile], { stdio: 'ignore' });
    this.proc = p;
    await new Promise<void>((res, rej) => {
      p.once('message', () => res());
      p.once('exit', (c) => rej(new Error(`modbus server exited ${c}`)));
    });
  }

  stats(): Promise<{ holding: number; input: number; reads: Array<[string, number, number]> }> {
    const p = this.proc!;
    return new Promise((res) => {
      p.once('message', (m) => res((m as { stats: never }).stats));
      p.send('stats');
    });
  }

  signal(sig: NodeJS.Signals): void {
    this.proc?.kill(sig);
  }

  async stop(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const done = new Promise((r) => p.once('exit', r));
    p.kill('SIGKILL');
    await done;
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
