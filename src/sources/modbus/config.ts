import {
  array,
  checkUnique,
  duration,
  entryPos,
  int,
  num,
  object,
  oneOf,
  optional,
  str,
  type Infer,
  type Issue,
  type Located,
  type Reload,
} from '../../core/schema.js';
import { BYTE_ORDERS, registerCount, type RegisterType } from './decode.js';
import type { ModbusTable } from './plan.js';

const TYPES = ['bool', 'int16', 'uint16', 'int32', 'uint32', 'int64', 'uint64', 'float32', 'float64', 'string'] as const satisfies readonly RegisterType[];
const TABLES = ['coil', 'discrete', 'input', 'holding'] as const satisfies readonly ModbusTable[];

/** Classic references: 0xxxx coils, 1xxxx discrete inputs, 3xxxx input registers, 4xxxx holding registers (5 or 6 digits). */
export function fromRef(ref: number): { table: ModbusTable; address: number } | undefined {
  const six = ref >= 100_001;
  const base = six ? 100_000 : 10_000;
  const kind = Math.floor(ref / base);
  const n = ref % base;
  const table = ({ 0: 'coil', 1: 'discrete', 3: 'input', 4: 'holding' } as Record<number, ModbusTable>)[kind];
  if (!table || n < 1 || n > (six ? 65_536 : 9_999)) return undefined;
  return { table, address: n - 1 };
}

const tag = object(
  {
    name: str({ description: 'The tag column of its rows.', minLength: 1 }),
    table: optional(oneOf(TABLES, { description: 'coil, discrete (inputs), input (registers) or holding (registers). Implied by ref.' })),
    address: optional(int({ description: 'Zero-based offset within its table.', min: 0, max: 65_535 })),
    ref: optional(
      int({
        description:
          'A classic reference instead of table and address: 00001–09999 coils, 10001–19999 discrete inputs, 30001–39999 input registers, 40001–49999 holding registers (or the 6-digit forms). Never guessed from address.',
        min: 1,
        max: 465_536,
      }),
    ),
    type: optional(oneOf(TYPES, { description: 'Value type; bool for coils and discrete inputs (the default there), uint16 by default for registers.' })),
    byte_order: optional(oneOf(BYTE_ORDERS, { description: 'Overrides the device byte order for this tag.' })),
    bit: optional(int({ description: 'For type bool on a register: which bit (0 = least significant).', min: 0, max: 15 })),
    length: optional(int({ description: 'For type string: length in bytes.', min: 1, max: 250 })),
    scale: num({ description: 'value = raw × scale + offset.', default: 1 }),
    offset: num({ description: 'value = raw × scale + offset.', default: 0 }),
    deadband: num({ description: 'A value closer than this to the last one written is not written again (absolute; 0 writes changes only).', default: 0 }),
    poll_interval: optional(duration({ description: "Overrides the device's poll_interval for this tag.", min: 10 })),
    unit: optional(str({ description: 'Engineering unit, for documentation.' })),
  },
  {
    description: 'One value to read.',
    required: ['name'],
    check(v, loc, path, issues) {
      checkTag(v, loc, path, issues);
    },
  },
);

/** Where a tag's value lives and how it is read, with ref and the type defaults resolved. */
export interface ResolvedTag {
  table: ModbusTable;
  address: number;
  type: RegisterType;
}

/** A tag's table, address and type: from ref, or as written; the type defaults to bool (bit tables) or uint16. Undefined when neither gives a table and address. */
export function resolveTag(t: {
  table?: ModbusTable | undefined;
  address?: number | undefined;
  ref?: number | undefined;
  type?: RegisterType | undefined;
}): ResolvedTag | undefined {
  const r = t.ref !== undefined ? fromRef(t.ref) : t.table !== undefined && t.address !== undefined ? { table: t.table, address: t.address } : undefined;
  if (!r) return undefined;
  return { ...r, type: t.type ?? (r.table === 'coil' || r.table === 'discrete' ? 'bool' : 'uint16') };
}

/** Checks a tag; reads it, never writes it (the poller resolves ref and defaults with resolveTag). */
function checkTag(v: Record<string, unknown>, loc: Located, path: string, issues: Issue[]): void {
  const at = (k: string) => entryPos(loc, k);
  if ((v.address === undefined) === (v.ref === undefined)) {
    issues.push({ pos: loc.pos, path, message: 'give either address (with table) or ref, not both and not neither' });
    return;
  }
  if (v.ref !== undefined) {
    const r = fromRef(v.ref as number);
    if (!r) {
      issues.push({
        pos: at('ref'),
        path: `${path}.ref`,
        message: `${v.ref as number} is not a reference; expected 00001–09999, 10001–19999, 30001–39999 or 40001–49999 (or 6-digit forms)`,
      });
      return;
    }
    if (v.table !== undefined && v.table !== r.table) {
      issues.push({ pos: at('table'), path: `${path}.table`, message: `ref ${v.ref as number} is in the ${r.table} table, not ${v.table as string}` });
      return;
    }
  } else if (v.table === undefined) {
    issues.push({ pos: loc.pos, path: `${path}.table`, message: 'is required with address (coil, discrete, input or holding)' });
    return;
  }
  const t = resolveTag(v)!;
  const bits = t.table === 'coil' || t.table === 'discrete';
  if (bits && t.type !== 'bool')
    issues.push({ pos: at('type'), path: `${path}.type`, message: `${t.type} cannot be read from the ${t.table} table; expected bool` });
  if (bits && v.bit !== undefined)
    issues.push({ pos: at('bit'), path: `${path}.bit`, message: 'bit is for bool values of registers, not coils or discrete inputs' });
  if (!bits && t.type === 'bool' && v.bit === undefined)
    issues.push({ pos: at('type'), path: `${path}.bit`, message: 'a bool from a register needs bit (0–15)' });
  if (t.type === 'string' && v.length === undefined) issues.push({ pos: at('type'), path: `${path}.length`, message: 'a string needs length (bytes)' });
  if (t.type !== 'string' && v.length !== undefined) issues.push({ pos: at('length'), path: `${path}.length`, message: 'length is for type string' });
  if (!bits && t.address + registerCount(t.type, v.length as number | undefined) > 65_536) {
    issues.push({ pos: at('address'), path: `${path}.address`, message: 'the value runs past register 65535' });
  }
}

const transport = object(
  {
    type: oneOf(['tcp', 'rtu', 'rtu_over_tcp'], {
      description: 'tcp: Modbus TCP; rtu: a serial line; rtu_over_tcp: RTU frames through a TCP serial server.',
      default: 'tcp',
    }),
    host: optional(str({ description: 'tcp, rtu_over_tcp: host name or address.', example: '10.0.0.21' })),
    port: int({ description: 'tcp, rtu_over_tcp: TCP port.', default: 502, min: 1, max: 65_535 }),
    path: optional(str({ description: 'rtu: the serial device.', example: '/dev/ttyUSB0' })),
    baud: int({ description: 'rtu: bits per second.', default: 19_200, min: 300, max: 921_600 }),
    parity: oneOf(['none', 'even', 'odd'], { description: 'rtu: parity.', default: 'even' }),
    stop_bits: int({ description: 'rtu: stop bits.', default: 1, min: 1, max: 2 }),
    data_bits: int({ description: 'rtu: data bits.', default: 8, min: 7, max: 8 }),
    inter_frame_delay: duration({
      description: 'rtu, rtu_over_tcp: quiet time between a reply and the next request (slow devices need more than 3.5 characters).',
      default: 5,
      defaultText: '5ms',
      min: 0,
    }),
  },
  {
    description: 'How the device is reached. Devices with the same endpoint (host:port or serial path) share one connection and are polled in turn.',
    check(v, loc, path, issues) {
      if (v.type === 'rtu' && v.path === undefined)
        issues.push({ pos: loc.pos, path: `${path}.path`, message: 'is required for type rtu (the serial device, e.g. /dev/ttyUSB0)' });
      if (v.type !== 'rtu' && v.host === undefined) issues.push({ pos: loc.pos, path: `${path}.host`, message: `is required for type ${v.type}` });
      if (v.type === 'rtu' && v.host !== undefined)
        issues.push({ pos: entryPos(loc, 'host'), path: `${path}.host`, message: 'host is for tcp and rtu_over_tcp; rtu uses path' });
      if (v.type !== 'rtu' && v.path !== undefined) issues.push({ pos: entryPos(loc, 'path'), path: `${path}.path`, message: 'path is for rtu' });
    },
  },
);

const device = object(
  {
    name: str({ description: 'The device column of its rows.', minLength: 1 }),
    transport,
    unit_id: int({ description: 'Modbus unit (slave) id.', default: 1, min: 0, max: 255 }),
    poll_interval: duration({ description: 'How often its tags are read.', default: 1000, defaultText: '1s', min: 10 }),
    timeout: duration({ description: 'How long a request may take before it counts as a timeout.', default: 1000, defaultText: '1s', min: 10 }),
    max_gap: int({ description: 'Registers the planner may read through to merge two reads into one.', default: 16, min: 0, max: 124 }),
    max_registers_per_read: int({ description: 'For devices that cannot take the full 125 registers in one read.', default: 125, min: 1, max: 125 }),
    byte_order: oneOf(BYTE_ORDERS, {
      description:
        'Byte order of multi-register values (a tag may override): ABCD big-endian, CDAB word-swapped, BADC byte-swapped, DCBA little-endian; the 8-letter forms name the same for 64-bit values.',
      default: 'ABCD',
    }),
    publish_unchanged_every: optional(
      duration({ description: 'Write a value even when unchanged (within its deadband) at least this often: a heartbeat.', example: '1m', min: 100 }),
    ),
    tags: array(tag, {
      description: 'What to read.',
      example: '- { name: hydraulic/pressure, table: holding, address: 100, type: float32, byte_order: CDAB, scale: 0.1 }',
    }),
  },
  { description: 'One Modbus device.', required: ['name'] },
);

export const modbusSchema = object(
  {
    devices: array(device, {
      description: 'Modbus devices to poll. Writes to devices stay off.',
      example:
        '- name: press1\n  transport: { type: tcp, host: 10.0.0.21, port: 502 }\n  tags:\n    - { name: counter, table: input, address: 10, type: uint32 }',
    }),
  },
  {
    description: 'Modbus TCP and RTU polling.',
    check(v, loc, path, issues) {
      checkUnique(v.devices, (d) => d.name, 'device name', loc.pos, `${path}.devices`, issues);
    },
  },
);
export type ModbusConfig = Infer<typeof modbusSchema>;
export type ModbusDeviceConfig = ModbusConfig['devices'][number];
export type ModbusTagConfig = ModbusDeviceConfig['tags'][number];

/** SIGHUP applies tag maps: devices whose configuration is unchanged keep their state and link. */
export const modbusReload: Reload<ModbusConfig> = 'live';
