/** The fieldgate command line: the only code besides main.ts that touches process. */
import { readFileSync, readdirSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { FgError, errorMessage } from '../core/errors.js';
import { parseBind } from '../broker/broker.js';
import { exampleYaml, jsonSchema } from '../config/generate.js';
import { loadConfig, loadConfigOffThread } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { Gateway, createTransport, SINK_NAME } from '../pipeline/gateway.js';
import { listLetterFiles, replayDeadLetters } from '../sinks/clickhouse/deadletter.js';
import { partnerCursors } from '../pipeline/partners.js';
import { pointsDdl, type ServerFeatures } from '../sinks/clickhouse/ddl.js';
import { detectFeatures } from '../sinks/clickhouse/sink.js';
import { createLogger } from '../telemetry/logger.js';
import { createMetrics } from '../telemetry/metrics.js';
import { Journal } from '../journal/journal.js';
import { lockHolderText, lockStateDir, tryLockStateDir } from './lock.js';
import { checkJournal, repairJournal } from '../journal/check.js';
import { PlantSimulator } from './simulate.js';
import { SystemdNotifier } from './notify.js';
import { parseDuration } from '../core/units.js';
import { secretOf } from '../core/schema.js';
import { compileSelects } from '../core/glob.js';
import { fillTopic } from '../partners/format.js';
import { SECURITY_MODES, SECURITY_POLICIES } from '../sources/opcua/config.js';
import type { DiscoverOptions } from '../sources/opcua/discover.js';
import { describeFailure } from '../sources/opcua/status.js';
import { hashPassword } from '../broker/passwords.js';
import { loadClientModule } from '../sources/opcua/vendor.js';

/** Where the demo plant's Modbus and OPC UA machines listen (config/demo.yaml reads them). */
const DEMO_MODBUS_PORT = 1502;
const DEMO_OPCUA_PORT = 4841;

export const EXIT = { ok: 0, failure: 1, usage: 2, config: 3, locked: 4, query: 5, store: 6, journal: 7 } as const;

const HELP = `fieldgate: edge gateway for factories (MQTT broker → journal → ClickHouse)

Usage:
  fieldgate run -c FILE [--simulate]     run the gateway (--simulate also starts the demo plant:
                                         MQTT machines, a Modbus TCP one on 127.0.0.1:1502 and an
                                         OPC UA one at opc.tcp://127.0.0.1:4841)
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
4 state_dir in use by another fieldgate, 5 query failed, 6 store unavailable.
`;

interface Args {
  cmd: string;
  rest: string[];
  flags: Map<string, string | true>;
}

const VALUE_FLAGS = new Set(['-c', '--config', '--format', '--host', '--port', '--interval', '--rounds', '--modbus-port', '--opcua-port', '--root', '--depth', '--filter', '--max', '--name', '--security-mode', '--security-policy', '--user', '--password-file']);

export function parseArgs(argv: string[]): Args {
  const flags = new Map<string, string | true>();
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (VALUE_FLAGS.has(a)) {
      const v = argv[++i];
      if (v === undefined) throw new FgError('FG_E_USAGE', `${a} needs a value`);
      flags.set(a === '--config' ? '-c' : a, v);
    } else if (a.startsWith('--') && a.includes('=')) {
      const [k, v] = [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)];
      flags.set(k, v);
    } else if (a.startsWith('-') && a.length > 1) flags.set(a, true);
    else rest.push(a);
  }
  return { cmd: rest.shift() ?? '', rest, flags };
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

function configOf(a: Args): Config {
  const file = a.flags.get('-c');
  if (typeof file !== 'string') throw new FgError('FG_E_USAGE', `${a.cmd} needs -c FILE`);
  return loadConfig(file);
}

export async function main(argv: string[]): Promise<number> {
  let a: Args;
  try {
    a = parseArgs(argv);
  } catch (err) {
    process.stderr.write(`${errorMessage(err)}\n\n${HELP}`);
    return EXIT.usage;
  }
  if (a.flags.has('--version') || a.cmd === 'version') {
    process.stdout.write(`${version()}\n`);
    return EXIT.ok;
  }
  if (a.flags.has('--help') || a.flags.has('-h') || a.cmd === 'help' || a.cmd === '') {
    process.stdout.write(HELP);
    return a.cmd === '' && !a.flags.has('--help') && !a.flags.has('-h') ? EXIT.usage : EXIT.ok;
  }
  try {
    switch (a.cmd) {
      case 'run':
        return await run(a);
      case 'validate': {
        const file = a.flags.get('-c');
        configOf(a);
        process.stdout.write(`ok: ${String(file)}\n`);
        return EXIT.ok;
      }
      case 'ddl':
        return await ddl(a);
      case 'query':
        return await query(a);
      case 'partners':
        return await partners(a);
      case 'simulate':
        return await simulate(a);
      case 'journal':
        return await journalCmd(a);
      case 'deadletter':
        return await deadletter(a);
      case 'discover':
        return await discoverCmd(a);
      case 'pki':
        return await pki(a);
      case 'passwd':
        return await passwd(a);
      case 'config-schema':
        process.stdout.write(jsonSchema());
        return EXIT.ok;
      case 'config-example':
        process.stdout.write(exampleYaml());
        return EXIT.ok;
      default:
        process.stderr.write(`unknown command ${JSON.stringify(a.cmd)}\n\n${HELP}`);
        return EXIT.usage;
    }
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

async function run(a: Args): Promise<number> {
  const cfg = configOf(a);
  const log = createLogger(cfg.log.level);
  const unlock = await lockStateDir(cfg.state_dir);
  const gw = new Gateway(cfg, createMetrics(), log, { configFile: String(a.flags.get('-c')) });
  let sim: PlantSimulator | undefined;
  process.on('uncaughtException', (err) => {
    // The journal is crash-safe: exit and let the supervisor restart us.
    log.fatal({ err: errorMessage(err), stack: err.stack }, 'fieldgate: uncaught exception; exiting');
    process.exit(EXIT.failure); // the kernel releases the state_dir lock with the process
  });
  try {
    await gw.start();
  } catch (err) {
    await unlock();
    throw err;
  }
  const notifier = new SystemdNotifier(log);
  notifier.send(`READY=1\nSTATUS=listening on ${gw.broker.bound.map((b) => `${b.host}:${b.port}`).join(', ')}`);
  notifier.startWatchdog(() => gw.progressing());
  if (a.flags.has('--simulate')) {
    const l = cfg.broker.listeners[0];
    const bound = gw.broker.bound[0];
    if (l && bound) {
      sim = new PlantSimulator({ host: loopbackOf(l.bind).host, port: bound.port, modbusPort: DEMO_MODBUS_PORT, opcuaPort: DEMO_OPCUA_PORT, opcuaPkiDir: join(cfg.state_dir, 'demo-server-pki'), intervalMs: 1000, rounds: 0, log: (s) => log.info(s) });
      void sim.start();
    }
  }
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (sig: string): void => {
      if (stopping) {
        log.warn({ signal: sig }, 'fieldgate: second signal; exiting now');
        process.exit(EXIT.failure);
      }
      stopping = true;
      log.info({ signal: sig }, 'fieldgate: stopping');
      notifier.stop();
      sim?.stop();
      gw.stop().then(
        () => void unlock().then(() => resolve(EXIT.ok)),
        (err: unknown) => {
          log.error({ err: errorMessage(err) }, 'fieldgate: stop failed');
          void unlock().then(() => resolve(EXIT.failure));
        },
      );
    };
    // SIGHUP: re-read the file; a configuration that fails validation is refused and the running one stays.
    // The file is read and checked on a worker thread, so a huge or hostile one never stalls the broker.
    process.on('SIGHUP', () => {
      loadConfigOffThread(String(a.flags.get('-c'))).then(
        (next) => gw.reload(next).catch((err: unknown) => log.error({ err: errorMessage(err) }, 'reload: failed to apply')),
        (err: unknown) => log.error({ err: errorMessage(err) }, 'reload: refused; the running configuration stays'),
      );
    });
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}

async function ddl(a: Args): Promise<number> {
  const cfg = configOf(a);
  let f: ServerFeatures = { version: 'chDB', major: 26, minor: 0, dedupToken: true, dedupWindow: true, embedded: true };
  if (cfg.clickhouse.url) {
    const t = createTransport(cfg);
    try {
      f = await detectFeatures(t);
      process.stdout.write(`-- ClickHouse ${f.version} at ${t.target}\n`);
    } catch (err) {
      f = { version: 'unknown', major: 24, minor: 0, dedupToken: true, dedupWindow: true, embedded: false };
      process.stdout.write(`-- could not read the server version (${errorMessage(err).split('\n')[0]}); DDL for a current server:\n`);
    } finally {
      await t.close();
    }
  } else process.stdout.write(`-- embedded store (chDB) at ${join(cfg.state_dir, 'store')}\n`);
  for (const s of pointsDdl(f, { database: cfg.clickhouse.database, table: cfg.clickhouse.table, ttlMs: cfg.clickhouse.ttl, dedupWindow: cfg.clickhouse.dedup_window })) {
    process.stdout.write(`${s};\n`);
  }
  return EXIT.ok;
}

function post(host: string, port: number, path: string, body: string): Promise<{ status: number; data: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request({ host, port, path, method: 'POST', headers: { 'content-type': 'text/plain' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, data: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

function loopbackOf(bind: string): { host: string; port: number } {
  const { host, port } = parseBind(bind);
  return { host: host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host, port };
}

async function query(a: Args): Promise<number> {
  const cfg = configOf(a);
  const sql = a.rest.join(' ').trim();
  if (!sql) throw new FgError('FG_E_USAGE', 'query needs SQL, e.g. fieldgate query -c FILE "SELECT count() FROM fieldgate.points"');
  const format = typeof a.flags.get('--format') === 'string' ? String(a.flags.get('--format')) : 'TabSeparated';
  process.stdout.write(await runQuery(cfg, sql, format));
  return EXIT.ok;
}

/** A read-only query through the running gateway, or on the store directly when it is not running. */
async function runQuery(cfg: Config, sql: string, format: string): Promise<Buffer> {
  const { host, port } = loopbackOf(cfg.http.bind);
  // Not running: open the store ourselves, holding the lock so a gateway cannot start meanwhile.
  const unlock = cfg.clickhouse.url ? () => Promise.resolve() : await tryLockStateDir(cfg.state_dir);
  if (!unlock) {
    const holder = lockHolderText(cfg.state_dir);
    let r: { status: number; data: Buffer };
    try {
      r = await post(host, port, `/query?format=${encodeURIComponent(format)}`, sql);
    } catch (err) {
      throw new FgError('FG_E_QUERY', `fieldgate (${holder}) holds ${cfg.state_dir} but its HTTP endpoint ${host}:${port} did not answer: ${errorMessage(err)}`);
    }
    if (r.status !== 200) throw new FgError('FG_E_QUERY', r.data.toString('utf8').trim());
    return r.data;
  }
  const t = createTransport(cfg);
  try {
    return await t.query(sql, format, { timeoutMs: cfg.clickhouse.query_timeout, maxMemory: cfg.clickhouse.query_max_memory });
  } catch (err) {
    if (err instanceof FgError) throw err;
    throw new FgError('FG_E_QUERY', errorMessage(err).trim());
  } finally {
    await t.close();
    await unlock();
  }
}

/**
 * `partners preview`: which devices and tags in the store each partner's send entries select,
 * and which never leave, before anything is enabled.
 */
async function partners(a: Args): Promise<number> {
  if (a.rest[0] !== 'preview') throw new FgError('FG_E_USAGE', 'partners takes preview: fieldgate partners preview -c FILE [NAME] [--json]');
  const cfg = configOf(a);
  const name = a.rest[1];
  const list = name === undefined ? cfg.partners : cfg.partners.filter((p) => p.name === name);
  if (!list.length) throw new FgError('FG_E_USAGE', name === undefined ? `${a.flags.get('-c')} configures no partners` : `no partner named ${JSON.stringify(name)} (configured: ${cfg.partners.map((p) => p.name).join(', ') || 'none'})`);
  const db = `\`${cfg.clickhouse.database}\`.\`${cfg.clickhouse.table}\``;
  const rows = (await runQuery(cfg, `SELECT device, tag, count() FROM ${db} WHERE source NOT LIKE 'partner:%' GROUP BY device, tag ORDER BY device, tag`, 'JSONCompact'))
    .toString('utf8');
  const pairs = (JSON.parse(rows) as { data: Array<[string, string, string | number]> }).data.map(([device, tag, n]) => ({ device, tag, values: Number(n) }));
  const report = list.map((p) => {
    const entries = p.send.map((e) => compileSelects(e.select));
    const sent: Array<{ device: string; tag: string; values: number; entries: number[]; topics: string[] }> = [];
    const withheld: Array<{ device: string; tag: string; values: number }> = [];
    for (const x of pairs) {
      const hit = entries.flatMap((m, i) => (m(x.device, x.tag) ? [i] : []));
      if (hit.length) sent.push({ ...x, entries: hit.map((i) => i + 1), topics: hit.map((i) => (p.send[i].format === 'sparkplug' ? `spBv1.0/${p.sparkplug.group_id}/DDATA/${p.sparkplug.edge_node_id || '<gateway_id>'}/${x.device}` : fillTopic(p.send[i].topic, { gateway: cfg.gateway_id || '<gateway_id>', partner: p.name, device: x.device, tag: x.tag }))) });
      else withheld.push(x);
    }
    return { partner: p.name, enabled: p.enabled, target: p.broker?.url ?? p.webhook!.url, receive: p.receive.map((r) => r.topic), sent, withheld };
  });
  if (a.flags.has('--json')) {
    process.stdout.write(JSON.stringify(report, null, 2) + '\n');
    return EXIT.ok;
  }
  const out: string[] = [];
  for (const r of report) {
    out.push(`partner ${r.partner} → ${r.target}${r.enabled ? '' : ' (enabled: false)'}`);
    if (!pairs.length) out.push('  the store holds no values yet: nothing to compare the selects with');
    for (const x of r.sent) out.push(`  SENT      ${x.device}  ${x.tag}  (${x.values} values stored; entry ${x.entries.join(', ')} → ${x.topics.join(', ')})`);
    for (const x of r.withheld) out.push(`  withheld  ${x.device}  ${x.tag}  (${x.values} values stored)`);
    out.push(`  ${r.sent.length} of ${pairs.length} device/tag pairs in the store are sent; ${r.withheld.length} never leave.`);
    if (r.receive.length) out.push(`  received from the partner: ${r.receive.join(', ')} (stored with source partner:${r.partner})`);
    out.push('');
  }
  process.stdout.write(out.join('\n'));
  return EXIT.ok;
}

async function simulate(a: Args): Promise<number> {
  let host = '127.0.0.1';
  let port = 1883;
  if (typeof a.flags.get('-c') === 'string') {
    const cfg = configOf(a);
    const l = cfg.broker.listeners[0];
    if (l) ({ host, port } = loopbackOf(l.bind));
  }
  if (typeof a.flags.get('--host') === 'string') host = String(a.flags.get('--host'));
  if (typeof a.flags.get('--port') === 'string') port = Number(a.flags.get('--port'));
  const interval = parseDuration(String(a.flags.get('--interval') ?? '1s'));
  if (interval === undefined) throw new FgError('FG_E_USAGE', '--interval takes a duration such as 500ms or 1s');
  const rounds = Number(a.flags.get('--rounds') ?? 0);
  const modbusPort = Number(a.flags.get('--modbus-port') ?? DEMO_MODBUS_PORT);
  const opcuaPort = Number(a.flags.get('--opcua-port') ?? DEMO_OPCUA_PORT);
  const opcuaPkiDir = join(tmpdir(), `fieldgate-simulate-${process.getuid?.() ?? 0}`, 'pki');
  const sim = new PlantSimulator({ host, port, modbusPort, opcuaPort, opcuaPkiDir, intervalMs: interval, rounds, log: (s) => process.stderr.write(`${s}\n`) });
  process.once('SIGINT', () => sim.stop());
  process.once('SIGTERM', () => sim.stop());
  await sim.start();
  return EXIT.ok;
}

async function journalCmd(a: Args): Promise<number> {
  if (a.rest[0] !== 'check') throw new FgError('FG_E_USAGE', 'journal takes check, e.g. fieldgate journal check -c FILE [--repair]');
  const cfg = configOf(a);
  const unlock = await tryLockStateDir(cfg.state_dir);
  try {
    const r = checkJournal(cfg.state_dir, [SINK_NAME, ...partnerCursors(cfg.partners).names], cfg.journal.fsync === 'always');
    if (a.flags.has('--json')) process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
    else {
      const out: string[] = [`journal ${r.dir}${r.identity ? ` (identity ${r.identity})` : ''}${unlock ? '' : `, in use by fieldgate (${lockHolderText(cfg.state_dir)})`}`];
      out.push(`  ${r.segments.length} segment(s), ${r.segments.reduce((x, s) => x + s.bytes, 0)} bytes, ${r.records} record(s) in the scanned segments, ${r.chunks} chunk(s), end at position ${r.end}`);
      for (const s of r.segments) out.push(`  segment ${s.file}: base ${s.base}, ${s.bytes} bytes, ${s.records} record(s)`);
      if (r.tornTailBytes) out.push(`  torn tail: ${r.tornTailBytes} bytes`);
      for (const d of r.damage) out.push(`  damaged: ${d.segment} at position ${d.start}, ${d.bytes} bytes, ${d.exact ? '' : 'at least '}${d.records} record(s) lost`);
      for (const c of r.cursors) out.push(`  cursor ${c.sink}: ${c.state ? `position ${c.state.position} (chunk ${c.state.chunk})` : '-'}: ${c.verdict}${c.detail ? ` (${c.detail})` : ''}`);
      out.push('a start would:', ...r.actions.map((x) => `  ${x}`));
      process.stdout.write(`${out.join('\n')}\n`);
    }
    if (a.flags.has('--repair') && r.refuse) {
      if (!unlock) throw new FgError('FG_E_STATE_LOCKED', `state_dir ${cfg.state_dir} is in use by fieldgate (${lockHolderText(cfg.state_dir)}); stop it before --repair`);
      for (const line of repairJournal(cfg.state_dir, r)) process.stdout.write(`repaired: ${line}\n`);
      return EXIT.ok;
    }
    return r.refuse ? EXIT.journal : EXIT.ok;
  } finally {
    await unlock?.();
  }
}

async function deadletter(a: Args): Promise<number> {
  const cfg = configOf(a);
  const dir = join(cfg.state_dir, 'deadletter');
  const sub = a.rest[0];
  if (sub === 'list') {
    for (const f of await listLetterFiles(dir)) process.stdout.write(`${f.path}\n`);
    return EXIT.ok;
  }
  if (sub !== 'replay') throw new FgError('FG_E_USAGE', 'deadletter takes list or replay');
  const unlock = await tryLockStateDir(cfg.state_dir);
  if (!unlock) {
    const { host, port } = loopbackOf(cfg.http.bind);
    const r = await post(host, port, '/deadletter/replay', '');
    process.stdout.write(r.data);
    return r.status === 200 ? EXIT.ok : EXIT.failure;
  }
  const log = createLogger(cfg.log.level);
  const journal = new Journal({ dir: cfg.state_dir, journal: cfg.journal, batch: cfg.batch, sinks: [SINK_NAME, ...partnerCursors(cfg.partners).names], startAtEnd: partnerCursors(cfg.partners).startAtEnd, metrics: createMetrics(undefined, false), log });
  try {
    journal.recover();
    const r = await replayDeadLetters(dir, journal, log);
    await journal.close();
    process.stdout.write(`${JSON.stringify(r)}\n`);
    return EXIT.ok;
  } finally {
    await unlock();
  }
}

function flag(a: Args, name: string): string | undefined {
  const v = a.flags.get(name);
  return typeof v === 'string' ? v : undefined;
}

async function discoverCmd(a: Args): Promise<number> {
  const [kind, endpoint] = a.rest;
  if (kind !== 'opcua' || !endpoint) throw new FgError('FG_E_USAGE', 'discover takes: opcua <endpoint>, e.g. fieldgate discover opcua opc.tcp://10.0.0.30:4840');
  if (!/^opc\.tcp:\/\/[^\s/]+/.test(endpoint)) throw new FgError('FG_E_USAGE', `${endpoint}: expected an opc.tcp:// URL such as opc.tcp://10.0.0.30:4840`);
  const mode = flag(a, '--security-mode') ?? 'None';
  if (!(SECURITY_MODES as readonly string[]).includes(mode)) throw new FgError('FG_E_USAGE', `--security-mode ${mode}: expected one of ${SECURITY_MODES.join(', ')}`);
  const policy = flag(a, '--security-policy') ?? (mode === 'None' ? 'None' : 'Basic256Sha256');
  if (!(SECURITY_POLICIES as readonly string[]).includes(policy)) throw new FgError('FG_E_USAGE', `--security-policy ${policy}: expected one of ${SECURITY_POLICIES.join(', ')}`);
  const int = (name: string, def: number) => {
    const v = flag(a, name);
    if (v === undefined) return def;
    if (!/^\d+$/.test(v) || Number(v) < 1) throw new FgError('FG_E_USAGE', `${name} ${v}: expected a whole number of 1 or more`);
    return Number(v);
  };
  let filter: RegExp | undefined;
  const f = flag(a, '--filter');
  if (f !== undefined) {
    try {
      filter = new RegExp(f);
    } catch (err) {
      throw new FgError('FG_E_USAGE', `--filter ${f}: ${errorMessage(err)}`);
    }
  }
  const user = flag(a, '--user');
  const pwFile = flag(a, '--password-file');
  if ((user === undefined) !== (pwFile === undefined)) throw new FgError('FG_E_USAGE', '--user and --password-file go together');
  // The client certificate: the gateway's own (state_dir/pki) with -c, else a throwaway one.
  const pkiDir = typeof a.flags.get('-c') === 'string' ? join(configOf(a).state_dir, 'pki') : join(tmpdir(), `fieldgate-discover-${process.getuid?.() ?? 0}`, 'pki');
  const o: DiscoverOptions = {
    endpoint,
    name: flag(a, '--name') ?? (new URL(endpoint.replace(/^opc\.tcp:/, 'http:')).hostname.replace(/[^A-Za-z0-9_-]/g, '_') || 'server'),
    link: {
      securityMode: mode as DiscoverOptions['link']['securityMode'],
      securityPolicy: policy,
      auth: user !== undefined ? { type: 'username', username: user, password: secretOf(readFileSync(pwFile!, 'utf8')) } : { type: 'anonymous' },
      requestTimeoutMs: 10_000,
      sessionTimeoutMs: 60_000,
    },
    pkiDir,
    root: flag(a, '--root') ?? '/Objects',
    depth: int('--depth', 5),
    max: int('--max', 5000),
    ...(filter ? { filter } : {}),
  };
  // node-opcua loads only for the commands that use it.
  await loadClientModule();
  const { discover, discoveryYaml } = await import('../sources/opcua/discover.js');
  let r;
  try {
    r = await discover(o);
  } catch (err) {
    const d = describeFailure(err);
    process.stderr.write(`discover: ${endpoint}: ${d.reason}${d.untrusted ? ` (see ${join(pkiDir, 'rejected')}; trust it with fieldgate pki trust FILE${typeof a.flags.get('-c') === 'string' ? ` -c ${String(a.flags.get('-c'))}` : ''})` : ''}\n`);
    return EXIT.failure;
  }
  process.stdout.write(discoveryYaml(o, r));
  return EXIT.ok;
}

async function pki(a: Args): Promise<number> {
  const cfg = configOf(a);
  const dir = join(cfg.state_dir, 'pki');
  const [sub, file] = a.rest;
  const { certificateSummary, trustCertificateFile } = await loadClientModule();
  if (sub === 'trust') {
    if (!file) throw new FgError('FG_E_USAGE', 'pki trust takes the certificate file, e.g. one printed by the gateway from pki/rejected');
    const t = await trustCertificateFile(dir, file);
    // Out of rejected/: it is trusted now, and a listing should not show it twice.
    if (resolve(dirname(file)) === resolve(join(dir, 'rejected'))) rmSync(file, { force: true });
    process.stdout.write(`trusted ${t.subject} (sha1 ${t.thumbprint}) in ${join(dir, 'trusted', 'certs')}; a running gateway uses it on its next connect attempt\n`);
    return EXIT.ok;
  }
  if (sub === 'list') {
    for (const [label, d] of [['trusted', join(dir, 'trusted', 'certs')], ['rejected', join(dir, 'rejected')]] as const) {
      let names: string[] = [];
      try {
        names = readdirSync(d).filter((n) => /\.(pem|der)$/i.test(n));
      } catch {
        // none yet
      }
      for (const n of names) {
        const c = certificateSummary(join(d, n));
        process.stdout.write(`${label}\t${c.thumbprint}\t${c.subject}\tvalid to ${c.validTo}\t${join(d, n)}\n`);
      }
    }
    return EXIT.ok;
  }
  throw new FgError('FG_E_USAGE', 'pki takes trust FILE or list');
}

/** Reads one line from stdin; on a terminal without echo. */
function readSecret(prompt: string): Promise<string> {
  const stdin = process.stdin;
  if (!stdin.isTTY) {
    return new Promise((res, rej) => {
      let text = '';
      stdin.setEncoding('utf8');
      stdin.on('data', (d: string) => (text += d));
      stdin.on('end', () => res(text.split(/\r?\n/)[0] ?? ''));
      stdin.on('error', rej);
    });
  }
  process.stderr.write(prompt);
  stdin.setRawMode(true);
  stdin.setEncoding('utf8');
  return new Promise((res) => {
    let text = '';
    const onData = (d: string) => {
      for (const ch of d) {
        if (ch === '\r' || ch === '\n' || ch === '\u0004') {
          stdin.setRawMode(false);
          stdin.pause();
          stdin.off('data', onData);
          process.stderr.write('\n');
          return res(text);
        }
        if (ch === '\u0003') process.exit(EXIT.usage);
        text = ch === '\u007f' ? text.slice(0, -1) : text + ch;
      }
    };
    stdin.on('data', onData);
    stdin.resume();
  });
}

async function passwd(a: Args): Promise<number> {
  const user = a.rest[0];
  if (user !== undefined && (user.includes(':') || !user)) throw new FgError('FG_E_USAGE', `passwd: ${JSON.stringify(user)}: a username cannot contain ":"`);
  const pw = await readSecret('Password: ');
  if (!pw) throw new FgError('FG_E_USAGE', 'passwd: the password is empty');
  const hash = await hashPassword(pw);
  process.stdout.write(user === undefined ? `${hash}\n` : `${user}:${hash}\n`);
  return EXIT.ok;
}
