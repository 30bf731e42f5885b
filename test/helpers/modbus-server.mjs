// Test-only: a real Modbus TCP server (modbus-serial's ServerTCP) in its own
// process. Usage: node modbus-server.mjs <port> <spec.json>
// spec: { holding: {addr: word}, input: {...}, coils: {addr: bool}, discrete: {...},
//         illegal: [addr, …] (holding/input addresses answered with exception 2),
//         moving: [addr, …] (holding registers that count up on every read),
//         unitFail: {unit: exception code} (e.g. 11: a gateway whose target does not answer) }
// Over IPC it answers "stats" with the requests it served.
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';

const { ServerTCP } = createRequire(import.meta.url)('modbus-serial');
const [port, specFile] = process.argv.slice(2);
const spec = JSON.parse(readFileSync(specFile, 'utf8'));
const stats = { holding: 0, input: 0, coils: 0, discrete: 0, reads: [] };
const illegal = new Set(spec.illegal ?? []);
const moving = new Set(spec.moving ?? []);
const counters = new Map();

const unitFail = spec.unitFail ?? {};

function words(table, addr, length, unit) {
  if (unitFail[unit] !== undefined) throw Object.assign(new Error('gateway: target failed to respond'), { modbusErrorCode: unitFail[unit] });
  const out = [];
  for (let a = addr; a < addr + length; a++) {
    if (illegal.has(a)) throw Object.assign(new Error('illegal data address'), { modbusErrorCode: 2 });
    if (table === 'holding' && moving.has(a)) {
      counters.set(a, (counters.get(a) ?? 0) + 1);
      out.push(counters.get(a) & 0xffff);
    } else out.push(spec[table]?.[a] ?? 0);
  }
  return out;
}

/** getMultiple… and get… for one register table, logging each read. */
function registers(table) {
  const read = (addr, length, unit) => {
    stats[table]++;
    stats.reads.push([table, addr, length]);
    return words(table, addr, length, unit);
  };
  return [(addr, length, unit) => read(addr, length, unit), (addr, unit) => read(addr, 1, unit)[0]];
}
const [getMultipleHoldingRegisters, getHoldingRegister] = registers('holding');
const [getMultipleInputRegisters, getInputRegister] = registers('input');

const vector = {
  getMultipleHoldingRegisters,
  getHoldingRegister,
  getMultipleInputRegisters,
  getInputRegister,
  getCoil: (addr) => !!spec.coils?.[addr],
  getDiscreteInput: (addr) => !!spec.discrete?.[addr],
};

const server = new ServerTCP(vector, { host: '127.0.0.1', port: Number(port) });
server.on('socketError', () => undefined);
server.on('initialized', () => process.send?.('ready'));
process.on('message', (m) => {
  if (m === 'stats') process.send?.({ stats });
});
