// Test-only: a Modbus RTU server (modbus-serial's ServerSerial) on a serial
// device, e.g. one end of a socat pseudo-terminal pair.
// Usage: node modbus-rtu-server.mjs <path> <unit> ; holding register a answers a*10+unit, register 0 counts up.
import { createRequire } from 'node:module';

const { ServerSerial } = createRequire(import.meta.url)('modbus-serial');
const [path, unit] = process.argv.slice(2);
let n = 0;
const value = (a) => (a === 0 ? ++n & 0xffff : a * 10 + Number(unit));
const server = new ServerSerial(
  {
    getHoldingRegister: (a) => value(a),
    getMultipleHoldingRegisters: (a, len) => Array.from({ length: len }, (_, i) => value(a + i)),
  },
  { path, baudRate: 19200, parity: 'even', unitID: Number(unit), openCallback: (err) => (err ? process.exit(3) : process.send?.('ready')) },
);
server.on('error', () => undefined);
server.on('socketError', () => undefined);
