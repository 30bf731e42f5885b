import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/load.js';
import { formatIssue } from '../../../src/core/schema.js';
import { fromRef, resolveTag } from '../../../src/sources/modbus/config.js';

const HEAD = 'state_dir: ./d\nmodbus:\n  devices:\n    - name: p1\n      transport: { type: tcp, host: 10.0.0.21 }\n      tags:\n';
const errs = (text: string): string[] => parseConfig(text, 'f.yaml', {}).issues.map(formatIssue);

describe('Modbus configuration', () => {
  it.each([
    [
      '        - { name: a, table: holding, address: 1, ref: 40002 }',
      'f.yaml:7:11: modbus.devices[0].tags[0]: give either address (with table) or ref, not both and not neither',
    ],
    [
      '        - { name: a, ref: 20001 }',
      'f.yaml:7:27: modbus.devices[0].tags[0].ref: 20001 is not a reference; expected 00001–09999, 10001–19999, 30001–39999 or 40001–49999 (or 6-digit forms)',
    ],
    ['        - { name: a, table: input, ref: 40002 }', 'f.yaml:7:29: modbus.devices[0].tags[0].table: ref 40002 is in the holding table, not input'],
    [
      '        - { name: a, table: coil, address: 3, type: float32 }',
      'f.yaml:7:53: modbus.devices[0].tags[0].type: float32 cannot be read from the coil table; expected bool',
    ],
    ['        - { name: a, table: holding, address: 3, type: bool }', 'f.yaml:7:56: modbus.devices[0].tags[0].bit: a bool from a register needs bit (0–15)'],
    ['        - { name: a, table: holding, address: 3, type: string }', 'f.yaml:7:56: modbus.devices[0].tags[0].length: a string needs length (bytes)'],
    [
      '        - { name: a, table: holding, address: 3, type: float32, byte_order: ABDC }',
      'f.yaml:7:77: modbus.devices[0].tags[0].byte_order: got "ABDC", expected one of: ABCD, CDAB, BADC, DCBA, ABCDEFGH, GHEFCDAB, BADCFEHG, HGFEDCBA',
    ],
    [
      '        - { name: a, table: holding, address: 65534, type: float64 }',
      'f.yaml:7:47: modbus.devices[0].tags[0].address: the value runs past register 65535',
    ],
    ['        - { name: a, address: 3 }', 'f.yaml:7:11: modbus.devices[0].tags[0].table: is required with address (coil, discrete, input or holding)'],
  ])('%s', (tag, want) => {
    expect(errs(`${HEAD}${tag}\n`)).toEqual([want]);
  });

  it('checks transports', () => {
    expect(errs('state_dir: ./d\nmodbus:\n  devices:\n    - name: p1\n      transport: { type: rtu }\n')).toEqual([
      'f.yaml:5:18: modbus.devices[0].transport.path: is required for type rtu (the serial device, e.g. /dev/ttyUSB0)',
    ]);
    expect(errs('state_dir: ./d\nmodbus:\n  devices:\n    - name: p1\n      transport: { type: rtu, path: /dev/ttyUSB0, host: x }\n')).toEqual([
      'f.yaml:5:57: modbus.devices[0].transport.host: host is for tcp and rtu_over_tcp; rtu uses path',
    ]);
  });

  it('accepts the issue example as written, with refs resolved', () => {
    const text = `state_dir: ./d
modbus:
  devices:
    - name: press1
      transport: { type: tcp, host: 10.0.0.21, port: 502 }        # or { type: rtu, path: /dev/ttyUSB0, baud: 19200, parity: even, stop_bits: 1 }
      unit_id: 1
      poll_interval: 1s
      timeout: 500ms
      max_gap: 16              # registers a planner may read through to merge requests
      byte_order: ABCD         # default for the device; a tag may override
      tags:
        - { name: hydraulic/pressure, table: holding, address: 100, type: float32, byte_order: CDAB, scale: 0.1, unit: bar }
        - { name: running, table: coil, address: 3, type: bool }
        - { name: counter, table: input, address: 10, type: uint32, deadband: 0 }
        - { name: recipe, table: holding, address: 200, type: string, length: 8 }
        - { name: setpoint, ref: 40101, type: int16 }
`;
    const r = parseConfig(text, 'f.yaml', {});
    expect(r.issues).toEqual([]);
    // The check leaves the configuration as written; resolveTag gives what the poller reads.
    const tag = r.config!.modbus.devices[0].tags[4];
    expect(tag).toMatchObject({ ref: 40101, type: 'int16' });
    expect(tag.table).toBeUndefined();
    expect(resolveTag(tag)).toEqual({ table: 'holding', address: 100, type: 'int16' });
    expect(resolveTag(r.config!.modbus.devices[0].tags[1])).toEqual({ table: 'coil', address: 3, type: 'bool' });
  });

  it.each([
    [1, 'coil', 0],
    [9999, 'coil', 9998],
    [10001, 'discrete', 0],
    [30001, 'input', 0],
    [40101, 'holding', 100],
    [49999, 'holding', 9998],
    [400001, 'holding', 0],
    [465536, 'holding', 65535],
  ] as const)('ref %i is %s %i', (ref, table, address) => {
    expect(fromRef(ref)).toEqual({ table, address });
  });
});
