/**
 * Every command, in the order of the help text: adding a command is a file in this folder and a
 * line here (its flags that take a value go in `valueFlags`).
 */
import { status } from './status.js';
import { exampleYaml, jsonSchema } from '../../config/generate.js';
import { EXIT, configOf, type Args } from '../args.js';
import { ddl } from './ddl.js';
import { deadletter } from './deadletter.js';
import { discoverCmd } from './discover.js';
import { journalCmd } from './journal.js';
import { partners } from './partners.js';
import { passwd } from './passwd.js';
import { pki } from './pki.js';
import { query } from './query.js';
import { run } from './run.js';
import { simulate } from './simulate.js';

export interface Command {
  run(args: Args): Promise<number>;
  /** Flags of this command that take a value (`--format F`). */
  valueFlags?: string[];
}

export const COMMANDS: Record<string, Command> = {
  run: { run, valueFlags: ['--log-format'] },
  validate: {
    run: (args) => {
      configOf(args);
      process.stdout.write(`ok: ${String(args.flags.get('-c'))}\n`);
      return Promise.resolve(EXIT.ok);
    },
  },
  ddl: { run: ddl },
  query: { run: query, valueFlags: ['--format'] },
  partners: { run: partners },
  simulate: { run: simulate, valueFlags: ['--host', '--port', '--interval', '--rounds', '--modbus-port', '--opcua-port'] },
  journal: { run: journalCmd },
  deadletter: { run: deadletter },
  discover: {
    run: discoverCmd,
    valueFlags: ['--root', '--depth', '--filter', '--max', '--name', '--security-mode', '--security-policy', '--user', '--password-file'],
  },
  pki: { run: pki },
  passwd: { run: passwd },
  status: { run: status, valueFlags: ['--user'] },
  'config-schema': { run: () => (process.stdout.write(jsonSchema()), Promise.resolve(EXIT.ok)) },
  'config-example': { run: () => (process.stdout.write(exampleYaml()), Promise.resolve(EXIT.ok)) },
};
