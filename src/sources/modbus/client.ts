/**
 * One Modbus connection (an endpoint: host:port or a serial line): the only
 * file that imports modbus-serial. modbus-serial has no timeout by default and
 * keeps isOpen true after a cable is pulled (modbus-serial #383, #461): the
 * link sets a timeout on every request and is closed by the poller after
 * consecutive timeouts, then reconnected with backoff.
 */
import { createRequire } from 'node:module';
import { Socket } from 'node:net';
import type { ModbusRTU as ModbusClient } from 'modbus-serial/ModbusRTU.js';
import { errorMessage } from '../../core/errors.js';
import type { ModbusDeviceConfig } from './config.js';
import type { ModbusTable } from './plan.js';

// A CommonJS package whose module.exports is the client class.
const ModbusRTU = createRequire(import.meta.url)('modbus-serial') as typeof ModbusClient;

export class ModbusError extends Error {
  constructor(
    message: string,
    /** Modbus exception code (2 illegal data address, 0x0A/0x0B gateway …), or a word for other failures. */
    readonly code: number | 'timeout' | 'connection',
  ) {
    super(message);
  }
}

export type ReadResult = { kind: 'registers'; data: Buffer } | { kind: 'bits'; data: boolean[] };

type Transport = ModbusDeviceConfig['transport'];

export function endpointKey(t: Transport): string {
  return t.type === 'rtu' ? `rtu:${t.path}` : `${t.type}:${t.host}:${t.port}`;
}

function connectSocket(host: string, port: number, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = new Socket();
    socket.setKeepAlive(true, 5000);
    socket.setNoDelay(true);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`connect timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('error', (err) => {
      clearTimeout(timer);
      socket.destroy();
      reject(err);
    });
    socket.connect(port, host, () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve(socket);
    });
  });
}

export class ModbusLink {
  private client: ModbusClient | undefined;
  constructor(
    readonly transport: Transport,
    private readonly timeoutMs: number,
  ) {}

  get open(): boolean {
    return !!this.client?.isOpen;
  }

  async connect(): Promise<void> {
    this.close();
    const c = new ModbusRTU();
    c.setTimeout(this.timeoutMs);
    const t = this.transport;
    try {
      if (t.type === 'tcp') {
        // Our own socket, connected before modbus-serial gets it: TCP keepalive notices a pulled
        // cable on an idle link (request timeouts notice the rest).
        const socket = await connectSocket(t.host!, t.port, this.timeoutMs);
        await c.connectTCP(t.host!, { port: t.port, socket });
      }
      // RTU frames as they are on the wire, over TCP (a serial device server in transparent
      // mode): modbus-serial calls this port "Telnet"; its "TcpRTUBuffered" is the other way round.
      else if (t.type === 'rtu_over_tcp') await c.connectTelnet(t.host!, { port: t.port, timeout: this.timeoutMs });
      else await c.connectRTUBuffered(t.path!, { baudRate: t.baud, parity: t.parity, stopBits: t.stop_bits, dataBits: t.data_bits });
    } catch (err) {
      c.close(() => undefined);
      throw new ModbusError(`connect ${endpointKey(t)}: ${errorMessage(err)}`, 'connection');
    }
    c.on('error', () => undefined);
    if (!c.isOpen) {
      c.close(() => undefined);
      throw new ModbusError(`connect ${endpointKey(t)}: not open`, 'connection');
    }
    this.client = c;
  }

  async read(unit: number, table: ModbusTable, start: number, count: number, timeoutMs = this.timeoutMs): Promise<ReadResult> {
    const c = this.client;
    if (!c || !c.isOpen) throw new ModbusError('not connected', 'connection');
    c.setID(unit);
    c.setTimeout(timeoutMs);
    try {
      switch (table) {
        case 'holding':
          return { kind: 'registers', data: (await c.readHoldingRegisters(start, count)).buffer };
        case 'input':
          return { kind: 'registers', data: (await c.readInputRegisters(start, count)).buffer };
        case 'coil':
          return { kind: 'bits', data: (await c.readCoils(start, count)).data };
        case 'discrete':
          return { kind: 'bits', data: (await c.readDiscreteInputs(start, count)).data };
      }
    } catch (err) {
      const e = err as { modbusCode?: number; errno?: string; message?: string };
      if (typeof e.modbusCode === 'number') throw new ModbusError(`exception ${e.modbusCode}: ${e.message ?? ''}`, e.modbusCode);
      if (e.errno === 'ETIMEDOUT') throw new ModbusError(`timed out after ${timeoutMs} ms`, 'timeout');
      throw new ModbusError(errorMessage(err), 'connection');
    }
  }

  close(): void {
    const c = this.client;
    this.client = undefined;
    if (c) {
      try {
        c.close(() => undefined);
      } catch {
        // already closed
      }
    }
  }
}

/** Register reads a simulated device answers (addresses are zero-based). */
export interface SimulatedDevice {
  holding(address: number): number;
  coil(address: number): boolean;
}

/** A Modbus TCP server for the demo plant (`fieldgate simulate`). */
export function startModbusServer(host: string, port: number, dev: SimulatedDevice): Promise<{ close(): Promise<void> }> {
  const { ServerTCP } = createRequire(import.meta.url)('modbus-serial') as typeof import('modbus-serial/ServerTCP.js');
  const server = new ServerTCP(
    {
      getHoldingRegister: (addr: number) => dev.holding(addr),
      getMultipleHoldingRegisters: (addr: number, length: number) => Array.from({ length }, (_, i) => dev.holding(addr + i)),
      getCoil: (addr: number) => dev.coil(addr),
    },
    { host, port },
  );
  server.on('socketError', () => undefined);
  return new Promise((resolve, reject) => {
    server.once('serverError', reject);
    server.once('initialized', () => resolve({ close: () => new Promise<void>((r) => server.close(() => r())) }));
  });
}
