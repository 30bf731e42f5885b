/** The fieldgate command line: the only code besides main.ts that touches process. Each command is a file in commands/. */
import { FgError, errorMessage } from '../core/errors.js';
import { EXIT, parseArgs, version, type Args } from './args.js';
import { COMMANDS } from './commands/index.js';

export { EXIT, parseArgs };

/** Flags that take a value: -c for every command, and what each command declares. */
const VALUE_FLAGS = new Set(['-c', '--config', ...Object.values(COMMANDS).flatMap((c) => c.valueFlags ?? [])]);

const HELP = `fieldgate: edge gateway for factories (MQTT broker → journal → ClickHouse)

Usage:
  fieldgate run -c FILE [--simulate] [--log-format auto|json|text]
                                         run the gateway (--simulate also starts the demo plant:
                                         MQTT machines, a Modbus TCP one on 127.0.0.1:1502 and an
                                         OPC UA one at opc.tcp://127.0.0.1:4841); logs are short
                                         lines on a terminal, JSON lines otherwise
  fieldgate status -c FILE [--json] [--user NAME]
                                         the running gateway's overview as a table: every part's
                                         health, rates, journal, disk, last errors (with console
                                         users: the password in FIELDGATE_PASSWORD)
  fieldgate validate -c FILE             check a configuration; prints every problem as file:line:col
  fieldgate ddl -c FILE                  print the DDL the gateway would run on its store
  fieldgate query -c FILE [--format F] SQL
                                         run a read-only query (through the running gateway, or on
                                         the store directly when it is not running); TabSeparated
                                         rows without a header unless --format says otherwise
  fieldgate simulate [-c FILE] [--host H] [--port P] [--interval 1s] [--rounds N] [--modbus-port 1502]
            [--opcua-port 4841]          publish the demo plant's values and serve its Modbus and
                                         OPC UA machines (port 0: none)
  fieldgate discover opcua ENDPOINT [--root /Objects] [--depth 5] [--filter REGEX] [--max 5000]
            [--name NAME] [--security-mode None|Sign|SignAndEncrypt] [--security-policy P]
            [--user U --password-file F] [-c FILE]
                                         browse an OPC UA server and print an opcua: section
                                         (nodes in the nsu= form) that validate accepts
  fieldgate pki trust FILE -c FILE | pki list -c FILE
                                         trust an OPC UA server certificate (from pki/rejected)
                                         or list the trusted and rejected ones
  fieldgate passwd [USER]                read a password (stdin, or a hidden prompt) and print its
                                         hash for broker.users, or a USER:hash line for a
                                         password_file
  fieldgate journal check -c FILE [--repair] [--json]
                                         what the journal holds (segments, chunks, damage, cursors) and
                                         what a start would do; exit 7 when a start would refuse.
                                         --repair puts right what a start refuses (stop the gateway first)
  fieldgate partners preview -c FILE [NAME] [--json]
                                         which devices and tags in the store each partner's send
                                         entries select (SENT) and which never leave (withheld)
  fieldgate deadletter list|replay -c FILE
                                         show or re-ingest rows the store refused
  fieldgate config-schema | config-example
                                         print the generated JSON Schema or example YAML
  fieldgate --version | --help

Exit codes: 0 ok, 1 runtime failure, 2 usage, 3 configuration invalid or unreadable,
4 state_dir in use by another fieldgate, 5 query failed, 6 store unavailable, 7 the journal and
its cursors disagree (see fieldgate journal check).
`;

export async function main(argv: string[]): Promise<number> {
  let args: Args;
  try {
    args = parseArgs(argv, VALUE_FLAGS);
  } catch (err) {
    process.stderr.write(`${errorMessage(err)}\n\n${HELP}`);
    return EXIT.usage;
  }
  if (args.flags.has('--version') || args.cmd === 'version') {
    process.stdout.write(`${version()}\n`);
    return EXIT.ok;
  }
  if (args.flags.has('--help') || args.flags.has('-h') || args.cmd === 'help' || args.cmd === '') {
    process.stdout.write(HELP);
    return args.cmd === '' && !args.flags.has('--help') && !args.flags.has('-h') ? EXIT.usage : EXIT.ok;
  }
  const cmd = Object.hasOwn(COMMANDS, args.cmd) ? COMMANDS[args.cmd] : undefined;
  if (!cmd) {
    process.stderr.write(`unknown command ${JSON.stringify(args.cmd)}\n\n${HELP}`);
    return EXIT.usage;
  }
  try {
    return await cmd.run(args);
  } catch (err) {
    return fail(err);
  }
}

function fail(err: unknown): number {
  if (err instanceof FgError) {
    process.stderr.write(`${err.code === 'FG_E_CONFIG' ? 'configuration is invalid:\n' : ''}${err.message}\n`);
    switch (err.code) {
      case 'FG_E_USAGE':
        return EXIT.usage;
      case 'FG_E_CONFIG':
      case 'FG_E_CONFIG_READ':
      case 'FG_E_STATE_DIR':
        return EXIT.config;
      case 'FG_E_STATE_LOCKED':
        return EXIT.locked;
      case 'FG_E_CHDB_MISSING':
        return EXIT.store;
      case 'FG_E_JOURNAL_STATE':
        return EXIT.journal;
      case 'FG_E_QUERY':
        return EXIT.query;
      default:
        return EXIT.failure;
    }
  }
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  return EXIT.failure;
}
