/**
 * The demo plant: a few machines publishing over MQTT, the way real ones do:
 * plain numbers on per-tag topics and JSON objects on per-device topics.
 */
import { connect, type Socket } from 'node:net';
import mqttPacket from 'mqtt-packet';
import { startModbusServer } from '../sources/modbus/client.js';
import { loadClientModule } from '../sources/opcua/vendor.js';

export interface SimulateOptions {
  host: string;
  port: number;
  /** Also serve a Modbus TCP machine (cnc4) on this port; 0 for none. */
  modbusPort: number;
  /** Also serve an OPC UA machine (oven1) on this port; 0 for none. */
  opcuaPort: number;
  /** The demo OPC UA server's own PKI folder. */
  opcuaPkiDir: string;
  intervalMs: number;
  /** Stop after this many rounds (0 = run until stopped). */
  rounds: number;
  log: (line: string) => void;
}

export class PlantSimulator {
  private socket: Socket | undefined;
  private timer: NodeJS.Timeout | undefined;
  private round = 0;
  private counter = 0;
  private id = 1;
  private modbus: { close(): Promise<void> } | undefined;
  private opcua: Promise<{ close(): Promise<void> } | undefined> | undefined;
  stopped = false;

  constructor(private readonly opts: SimulateOptions) {}

  /**
   * cnc4 over Modbus TCP: spindle speed (holding 0, uint16 rpm), spindle temperature (holding
   * 1–2, float32 CDAB), part counter (holding 3–4, uint32), running (coil 0).
   */
  private async startModbus(): Promise<void> {
    const words = Buffer.alloc(10);
    const started = Date.now();
    this.modbus = await startModbusServer(this.opts.host, this.opts.modbusPort, {
      holding: (addr) => {
        const t = (Date.now() - started) / 1000;
        words.writeUInt16BE(Math.round(8000 + 1500 * Math.sin(t / 20)), 0);
        const f = Buffer.alloc(4);
        f.writeFloatBE(45 + 5 * Math.sin(t / 90));
        f.copy(words, 4, 0, 2); // CDAB: the low word first
        f.copy(words, 2, 2, 4);
        words.writeUInt32BE(Math.floor(t / 3), 6);
        return addr < 5 ? words.readUInt16BE(addr * 2) : 0;
      },
      coil: (addr) => addr === 0,
    });
    this.opts.log(`simulate: Modbus TCP machine cnc4 on ${this.opts.host}:${this.opts.modbusPort}`);
  }

  private onConnected: () => void = () => undefined;
  private readonly connected = new Promise<void>((r) => (this.onConnected = r));

  /** Resolves once the plant publishes over MQTT and its OPC UA machine is up (or failed to start). */
  async ready(): Promise<void> {
    await this.connected;
    await this.opcua;
  }

  start(): Promise<void> {
    if (this.opts.modbusPort > 0) {
      this.startModbus().catch((err: unknown) => this.opts.log(`simulate: no Modbus machine: ${String(err)}`));
    }
    if (this.opts.opcuaPort > 0) {
      // oven1 over OPC UA: Oven1.Temperature, Setpoint, DoorOpen, EnergyWh (UInt64), ZoneTemps (array of 3).
      this.opcua = loadClientModule()
        .then(() => import('../sources/opcua/server.js'))
        .then((m) => m.startOpcuaDemoServer({ host: this.opts.host, port: this.opts.opcuaPort, pkiDir: this.opts.opcuaPkiDir }))
        .then(
          (s) => {
            this.opts.log(`simulate: OPC UA machine oven1 at ${s.endpoint}`);
            return s;
          },
          (err: unknown) => {
            this.opts.log(`simulate: no OPC UA machine: ${String(err)}`);
            return undefined;
          },
        );
    }
    return new Promise((resolve) => {
      const open = (): void => {
        if (this.stopped) return;
        const s = connect(this.opts.port, this.opts.host);
        this.socket = s;
        s.on('connect', () => {
          s.write(
            mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: 'fieldgate-demo-plant', keepalive: 60 }),
          );
          this.opts.log(`simulate: demo plant publishing to ${this.opts.host}:${this.opts.port} every ${this.opts.intervalMs} ms`);
          this.onConnected();
          this.timer ??= setInterval(() => this.tick(resolve), this.opts.intervalMs);
        });
        s.on('data', () => undefined);
        s.on('error', () => undefined);
        s.on('close', () => {
          if (!this.stopped) setTimeout(open, 1000);
        });
      };
      open();
    });
  }

  private publish(topic: string, payload: string): void {
    this.id = (this.id % 65535) + 1;
    this.socket?.write(mqttPacket.generate({ cmd: 'publish', topic, payload, qos: 1, messageId: this.id, retain: false, dup: false }));
  }

  private tick(done: () => void): void {
    const t = Date.now() / 1000;
    this.counter += 1 + Math.round(Math.random() * 2);
    const wave = (period: number, lo: number, hi: number): number =>
      Math.round((lo + ((hi - lo) * (1 + Math.sin((2 * Math.PI * t) / period))) / 2 + Math.random() * (hi - lo) * 0.02) * 100) / 100;
    this.publish('plant/press1/hydraulic/pressure', String(wave(60, 170, 190)));
    this.publish('plant/press1/hydraulic/temp', String(wave(600, 38, 46)));
    this.publish('plant/oven2/zone1/temp', String(wave(300, 178, 182)));
    this.publish('plant/oven2/zone2/temp', String(wave(300, 198, 202)));
    this.publish(
      'json/packer3',
      JSON.stringify({ count: this.counter, speed: wave(120, 55, 65), state: 'running', motor: { current: wave(30, 4, 6), on: true } }),
    );
    this.round++;
    if (this.opts.rounds > 0 && this.round >= this.opts.rounds) {
      this.stop();
      done();
    }
  }

  stop(): void {
    this.stopped = true;
    void this.modbus?.close();
    void this.opcua?.then((s) => s?.close());
    clearInterval(this.timer);
    this.socket?.end(mqttPacket.generate({ cmd: 'disconnect' }));
  }
}
