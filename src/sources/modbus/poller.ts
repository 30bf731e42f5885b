/**
 * Polling. One loop per endpoint (a TCP host:port or a serial line): the
 * devices behind it are polled in turn over its one connection, and a dead or
 * hung endpoint never delays another. Each device's tags are planned into the
 * fewest reads per poll interval; a read refused with "illegal data address"
 * is split until the bad tag stands alone (quality bad), its neighbours read on.
 */
import { injectedStall } from '../../core/faults.js';
import { Heartbeat } from '../../core/heartbeat.js';
import { Backoff } from '../../core/backoff.js';
import { Pause } from '../../core/pause.js';
import { Quality } from '../../core/quality.js';
import { errorMessage } from '../../core/errors.js';
import type { PointSink } from '../../core/ports.js';
import type { Logger } from '../../telemetry/logger.js';
import type { Metrics } from '../../telemetry/metrics.js';
import { resolveTag, type ModbusConfig, type ModbusDeviceConfig, type ModbusTagConfig } from './config.js';
import { ModbusError, ModbusLink, endpointKey, type ReadResult } from './client.js';
import { decodeBit, decodeRegisters, registerCount, type ByteOrder, type Decoded, type RegisterType } from './decode.js';
import { isBitTable, plan, split, SPEC_LIMITS, type ModbusTable, type ReadRequest } from './plan.js';

const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Consecutive timeouts after which a link is taken for dead and reconnected. */
const DEAD_AFTER_TIMEOUTS = 3;

interface TagState {
  cfg: ModbusTagConfig;
  table: ModbusTable;
  address: number;
  type: RegisterType;
  size: number;
  order: ByteOrder;
  last?: { value: number; text: string; quality: number; at: number };
}

interface Group {
  device: DeviceState;
  intervalMs: number;
  requests: ReadRequest[];
  due: number;
}

interface DeviceState {
  cfg: ModbusDeviceConfig;
  tags: TagState[];
  groups: Group[];
}

function tagState(d: ModbusDeviceConfig, t: ModbusTagConfig): TagState {
  // The configuration was checked: every tag resolves.
  const { table, address, type } = resolveTag(t)!;
  return { cfg: t, table, address, type, size: isBitTable(table) ? 1 : registerCount(type, t.length), order: t.byte_order ?? d.byte_order };
}

/** Plans a device: one request list per poll interval. Pure. */
export function planDevice(d: ModbusDeviceConfig, now: number): DeviceState {
  const tags = d.tags.map((t) => tagState(d, t));
  const dev: DeviceState = { cfg: d, tags, groups: [] };
  const byInterval = new Map<number, number[]>();
  tags.forEach((t, i) => {
    const iv = t.cfg.poll_interval ?? d.poll_interval;
    byInterval.set(iv, [...(byInterval.get(iv) ?? []), i]);
  });
  for (const [intervalMs, idx] of [...byInterval].sort((a, b) => a[0] - b[0])) {
    const requests = plan(
      idx.map((i) => ({ tag: i, table: tags[i].table, address: tags[i].address, size: tags[i].size })),
      { maxGap: d.max_gap, maxRegisters: Math.min(d.max_registers_per_read, SPEC_LIMITS.maxRegisters), maxBits: SPEC_LIMITS.maxBits },
    );
    dev.groups.push({ device: dev, intervalMs, requests, due: now });
  }
  return dev;
}

export class ModbusEndpoint {
  private readonly link: ModbusLink;
  private readonly backoff = new Backoff(500, 30_000);
  private stopped = false;
  private readonly pause = new Pause();
  private timeouts = 0;
  private running: Promise<void> | undefined;
  readonly heartbeat: Heartbeat;

  constructor(
    readonly key: string,
    private devices: DeviceState[],
    private readonly sink: PointSink,
    private readonly metrics: Metrics,
    private readonly log: Logger,
  ) {
    this.link = new ModbusLink(devices[0].cfg.transport, Math.max(...devices.map((d) => d.cfg.timeout)));
    // Three cycles of the slowest group and three timeouts, with room to spare (waits on purpose are declared with each beat).
    const stall = (): number =>
      Math.max(...this.devices.map((d) => 3 * Math.max(d.cfg.poll_interval, ...d.cfg.tags.map((t) => t.poll_interval ?? 0)) + 3 * d.cfg.timeout), 0) + 5_000;
    this.heartbeat = new Heartbeat(`modbus:${key}`, stall, () => this.devices.some((d) => d.groups.length > 0));
  }

  /** Replaces the devices polled over this link (a reload); devices kept keep their schedule and last values. */
  setDevices(devices: DeviceState[]): void {
    this.devices = devices;
    this.pause.wake();
  }

  start(): void {
    this.running = this.loop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.pause.wake();
    await this.running;
    this.link.close();
  }

  /** Never ends while the endpoint is configured: an unexpected error is logged and the loop goes on after a backoff. */
  private async loop(): Promise<void> {
    while (!this.stopped) {
      try {
        await this.step();
      } catch (err) {
        const delay = this.backoff.next();
        this.log.error({ endpoint: this.key, err: errorMessage(err), retry_ms: delay }, 'modbus: poll loop failed; it goes on after a backoff');
        this.link.close();
        this.heartbeat.beat(delay);
        await this.pause.sleep(delay);
      }
    }
  }

  /** One turn: connect if needed, then poll the group that is due, or wait for it. */
  private async step(): Promise<void> {
    this.heartbeat.beat();
    if (!this.link.open) {
      try {
        await this.link.connect();
        this.timeouts = 0;
        this.setConnected(true);
        this.log.info({ endpoint: this.key }, 'modbus: connected');
      } catch (err) {
        this.setConnected(false);
        for (const d of this.devices) this.metrics.modbusErrors.inc({ device: d.cfg.name, code: 'connection' });
        this.markAll(Quality.BadNoCommunication);
        const delay = this.backoff.next();
        if (this.backoff.attempts === 1)
          this.log.warn({ endpoint: this.key, err: errorMessage(err), retry_ms: delay }, 'modbus: cannot connect; retrying with backoff');
        this.heartbeat.beat(delay);
        await this.pause.sleep(delay);
        return;
      }
    }
    const g = this.nextGroup();
    if (!g) {
      // No tag to poll (every device has `tags: []`): wait for a reload, which wakes the loop.
      this.heartbeat.beat(60_000);
      await this.pause.sleep(60_000);
      return;
    }
    const wait = g.due - Date.now();
    if (wait > 0) {
      this.heartbeat.beat(wait);
      await this.pause.sleep(wait);
      return;
    }
    const stall = injectedStall('modbus_poll');
    if (stall) await stall;
    if (!this.sink.blocked) await this.poll(g);
    this.reschedule(g);
  }

  private nextGroup(): Group | undefined {
    let best: Group | undefined;
    for (const d of this.devices) for (const g of d.groups) if (!best || g.due < best.due) best = g;
    return best;
  }

  private reschedule(g: Group): void {
    g.due += g.intervalMs;
    const now = Date.now();
    if (g.due <= now) {
      // Late (a slow device or a hung neighbour on this endpoint): skip the missed cycles, do not burst.
      const missed = Math.floor((now - g.due) / g.intervalMs) + 1;
      this.metrics.modbusSkipped.inc({ device: g.device.cfg.name }, missed);
      g.due += missed * g.intervalMs;
    }
  }

  private async poll(g: Group): Promise<void> {
    const d = g.device;
    const name = d.cfg.name;
    const t0 = process.hrtime.bigint();
    let ok = true;
    for (let i = 0; i < g.requests.length && this.link.open; i++) {
      const r = g.requests[i];
      this.metrics.modbusRequests.inc({ device: name });
      let res: ReadResult;
      try {
        res = await this.link.read(d.cfg.unit_id, r.table, r.start, r.count, d.cfg.timeout);
        this.timeouts = 0;
        this.backoff.reset();
      } catch (err) {
        ok = false;
        const e = err instanceof ModbusError ? err : new ModbusError(errorMessage(err), 'connection');
        this.metrics.modbusErrors.inc({ device: name, code: String(e.code) });
        if (e.code === 2 && r.items.length > 1) {
          // Illegal data address: split, so the bad tag ends up alone; read the halves now.
          const halves = split(r, (tag) => d.tags[tag].size);
          g.requests.splice(i, 1, ...halves);
          i--;
          this.log.warn(
            { device: name, table: r.table, start: r.start, count: r.count },
            'modbus: read refused (illegal data address); splitting it to isolate the bad tag',
          );
          continue;
        }
        const q =
          e.code === 'timeout'
            ? Quality.BadTimeout
            : e.code === 2
              ? Quality.BadNodeIdUnknown
              : e.code === 'connection' || e.code === 10 || e.code === 11
                ? Quality.BadNoCommunication
                : Quality.Bad;
        this.markBad(d, r, q);
        if (e.code === 'timeout' && ++this.timeouts >= DEAD_AFTER_TIMEOUTS) {
          this.log.warn({ endpoint: this.key, timeouts: this.timeouts }, 'modbus: link silent; reconnecting');
          this.drop();
        } else if (e.code === 'connection') {
          this.drop();
        }
        // A timed-out request is not sent again blindly: the next cycle reads afresh.
        continue;
      }
      this.emit(d, r, res);
      // RTU: a quiet gap before the next frame (slow devices need more than 3.5 characters).
      if (d.cfg.transport.type !== 'tcp' && d.cfg.transport.inter_frame_delay > 0) await delay(d.cfg.transport.inter_frame_delay);
    }
    this.metrics.modbusPollSeconds.observe({ device: name }, Number(process.hrtime.bigint() - t0) / 1e9);
    if (ok) this.metrics.modbusLastSuccess.set({ device: name }, Date.now() / 1000);
  }

  private drop(): void {
    this.link.close();
    this.setConnected(false);
  }

  private emit(d: DeviceState, r: ReadRequest, res: ReadResult): void {
    const now = Date.now();
    for (const it of r.items) {
      const t = d.tags[it.tag];
      const v: Decoded =
        res.kind === 'bits'
          ? decodeBit(res.data, it.offset, t.cfg)
          : decodeRegisters(res.data, it.offset, {
              type: t.type,
              order: t.order,
              bit: t.cfg.bit,
              length: t.cfg.length,
              scale: t.cfg.scale,
              offset: t.cfg.offset,
            });
      this.write(d, t, v.value, v.text, Quality.Good, now);
    }
  }

  private markBad(d: DeviceState, r: ReadRequest, q: number): void {
    const now = Date.now();
    for (const it of r.items) this.write(d, d.tags[it.tag], Number.NaN, '', q, now);
  }

  private markAll(q: number): void {
    const now = Date.now();
    for (const d of this.devices) for (const t of d.tags) this.write(d, t, Number.NaN, '', q, now);
  }

  /** Writes a value unless it is unchanged (within the deadband) and no heartbeat is due. */
  private write(d: DeviceState, t: TagState, value: number, text: string, quality: number, now: number): void {
    const last = t.last;
    const heartbeat = d.cfg.publish_unchanged_every;
    const changed =
      !last ||
      last.quality !== quality ||
      last.text !== text ||
      Number.isNaN(value) !== Number.isNaN(last.value) ||
      (!Number.isNaN(value) && (t.cfg.deadband > 0 ? Math.abs(value - last.value) > t.cfg.deadband : value !== last.value));
    if (!changed && !(heartbeat !== undefined && now - last.at >= heartbeat)) return;
    t.last = { value, text, quality, at: now };
    this.sink.appendPoint(now, { ts: now, device: d.cfg.name, tag: t.cfg.name, value, text, quality });
    this.metrics.modbusPoints.inc({ device: d.cfg.name });
  }

  private setConnected(up: boolean): void {
    for (const d of this.devices) this.metrics.modbusConnected.set({ device: d.cfg.name }, up ? 1 : 0);
  }
}

/** All Modbus endpoints of a configuration. */
export class ModbusSource {
  private readonly endpoints = new Map<string, ModbusEndpoint>();
  /** Each device's state and the configuration it was planned from. */
  private devices = new Map<string, { state: DeviceState; json: string; key: string }>();

  constructor(
    private cfg: ModbusConfig,
    private readonly sink: PointSink,
    private readonly metrics: Metrics,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.apply(this.cfg);
    if (this.endpoints.size) this.log.info({ endpoints: this.endpoints.size, devices: this.cfg.devices.length }, 'modbus: polling');
  }

  /**
   * Applies a new tag map. Devices whose configuration is unchanged keep polling on
   * their schedule and connection; changed and new devices are planned afresh; links
   * that no device uses any more are closed.
   */
  reload(cfg: ModbusConfig): { kept: string[]; planned: string[]; removed: string[] } {
    const r = this.apply(cfg);
    this.cfg = cfg;
    return r;
  }

  private apply(cfg: ModbusConfig): { kept: string[]; planned: string[]; removed: string[] } {
    const now = Date.now();
    const next = new Map<string, { state: DeviceState; json: string; key: string }>();
    const byEndpoint = new Map<string, DeviceState[]>();
    const kept: string[] = [];
    const planned: string[] = [];
    const n = cfg.devices.length;
    cfg.devices.forEach((d, i) => {
      const json = JSON.stringify(d);
      const key = endpointKey(d.transport);
      const old = this.devices.get(d.name);
      // New devices start spread over their interval, so hundreds of them do not all ask at once.
      const state = old && old.json === json ? old.state : planDevice(d, now + Math.floor((i / n) * d.poll_interval));
      (state === old?.state ? kept : planned).push(d.name);
      next.set(d.name, { state, json, key });
      byEndpoint.set(key, [...(byEndpoint.get(key) ?? []), state]);
    });
    const removed = [...this.devices.keys()].filter((n) => !next.has(n));
    this.devices = next;
    for (const [key, e] of this.endpoints) {
      const devs = byEndpoint.get(key);
      if (devs) e.setDevices(devs);
      else {
        this.endpoints.delete(key);
        void e.stop();
      }
    }
    for (const [key, devs] of byEndpoint) {
      if (this.endpoints.has(key)) continue;
      const e = new ModbusEndpoint(key, devs, this.sink, this.metrics, this.log);
      this.endpoints.set(key, e);
      e.start();
    }
    return { kept, planned, removed };
  }

  async stop(): Promise<void> {
    await Promise.all([...this.endpoints.values()].map((e) => e.stop()));
  }

  probes(): Heartbeat[] {
    return [...this.endpoints.values()].map((e) => e.heartbeat);
  }
}
