// A farm of simulated Modbus TCP devices for the benchmark: one ServerTCP per
// port in this process. Registers 0..14 change every second, 15..29 do not.
// Usage: node modbus-farm.mjs <firstPort> <count>
import { createRequire } from 'node:module';

const { ServerTCP } = createRequire(import.meta.url)('modbus-serial');
const [first, count] = process.argv.slice(2).map(Number);
const value = (a) => (a < 15 ? (Math.floor(Date.now() / 1000) + a) & 0xffff : a);
let ready = 0;
for (let i = 0; i < count; i++) {
  const s = new ServerTCP(
    {
      getHoldingRegister: (a) => value(a),
      getMultipleHoldingRegisters: (a, n) => Array.from({ length: n }, (_, k) => value(a + k)),
    },
    { host: '127.0.0.1', port: first + i },
  );
  s.on('socketError', () => undefined);
  s.on('initialized', () => {
    if (++ready === count) process.send?.('ready');
  });
}
