import { EXIT, type Args, configOf, loopbackOf } from '../args.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FgError } from '../../core/errors.js';
import { PlantSimulator } from '../simulate.js';
import { parseDuration } from '../../core/units.js';

/** Where the demo plant's Modbus and OPC UA machines listen (config/demo.yaml reads them). */
export const DEMO_MODBUS_PORT = 1502;

export const DEMO_OPCUA_PORT = 4841;

export async function simulate(args: Args): Promise<number> {
  let host = '127.0.0.1';
  let port = 1883;
  if (typeof args.flags.get('-c') === 'string') {
    const cfg = configOf(args);
    const l = cfg.broker.listeners[0];
    if (l) ({ host, port } = loopbackOf(l.bind));
  }
  if (typeof args.flags.get('--host') === 'string') host = String(args.flags.get('--host'));
  if (typeof args.flags.get('--port') === 'string') port = Number(args.flags.get('--port'));
  const interval = parseDuration(String(args.flags.get('--interval') ?? '1s'));
  if (interval === undefined) throw new FgError('FG_E_USAGE', '--interval takes a duration such as 500ms or 1s');
  const rounds = Number(args.flags.get('--rounds') ?? 0);
  const modbusPort = Number(args.flags.get('--modbus-port') ?? DEMO_MODBUS_PORT);
  const opcuaPort = Number(args.flags.get('--opcua-port') ?? DEMO_OPCUA_PORT);
  const opcuaPkiDir = join(tmpdir(), `fieldgate-simulate-${process.getuid?.() ?? 0}`, 'pki');
  const sim = new PlantSimulator({ host, port, modbusPort, opcuaPort, opcuaPkiDir, intervalMs: interval, rounds, log: (s) => process.stderr.write(`${s}\n`) });
  process.once('SIGINT', () => sim.stop());
  process.once('SIGTERM', () => sim.stop());
  await sim.start();
  return EXIT.ok;
}
