/** The whole configuration: each component's slice, under its key. */
import { checkUnique, entryPos, object, posAt, reloadSection, str, type Infer, type Reload } from '../core/schema.js';
import { brokerReload, brokerSchema } from '../broker/config.js';
import { mqttReload, mqttSchema, templateError } from '../encode/config.js';
import { partnersReload, partnersSchema } from '../partners/config.js';
import { batchSchema, journalSchema } from '../journal/config.js';
import { shutdownSchema, workersSchema } from '../pipeline/config.js';
import { clickhouseSchema, serverUrls, sinksSchema, type SinkConfig } from '../sinks/clickhouse/config.js';
import { httpSchema, logSchema } from '../telemetry/config.js';
import { modbusReload, modbusSchema } from '../sources/modbus/config.js';
import { opcuaReload, opcuaSchema } from '../sources/opcua/config.js';

export const rootSchema = object(
  {
    state_dir: str({ description: 'Folder for the journal, cursors, dead letters and the embedded store; relative paths are taken from the config file\'s folder.', example: './data', minLength: 1 }),
    gateway_id: str({ description: "This gateway's name, unique among the gateways that write into one store: part of every insert's deduplication token, so two gateways (or a reset journal) never drop each other's rows as duplicates. Empty: the host name.", default: '', pattern: /^[A-Za-z0-9_.-]{0,64}$/, expected: 'up to 64 letters, digits, _ . -' }),
    log: logSchema,
    broker: brokerSchema,
    mqtt: mqttSchema,
    modbus: modbusSchema,
    opcua: opcuaSchema,
    journal: journalSchema,
    batch: batchSchema,
    clickhouse: clickhouseSchema,
    sinks: sinksSchema,
    partners: partnersSchema,
    workers: workersSchema,
    http: httpSchema,
    shutdown: shutdownSchema,
  },
  {
    description: 'fieldgate configuration.',
    required: ['state_dir'],
    check(v, loc, _path, issues) {
      if (v.sinks.length) {
        const sat = entryPos(loc, 'sinks');
        if (loc.kind === 'map' && loc.entries.some((e) => e.key === 'clickhouse')) issues.push({ pos: entryPos(loc, 'clickhouse'), path: 'clickhouse', message: 'give clickhouse (one store) or sinks (several), not both: move it into sinks as { name: clickhouse, clickhouse: {...} }' });
        checkUnique(v.sinks, (s) => s.name, 'sink name', sat, 'sinks', issues);
        const embedded = v.sinks.filter((s) => !serverUrls(s.clickhouse).length);
        if (embedded.length > 1) issues.push({ pos: sat, path: 'sinks', message: `${embedded.map((s) => s.name).join(' and ')} are both the embedded store (no url): there is one per gateway, under state_dir/store` });
      }
      const at = entryPos(loc, 'partners');
      checkUnique(v.partners, (p) => p.name, 'partner name', at, 'partners', issues);
      v.partners.forEach((p, i) =>
        p.receive.forEach((r, j) => {
          const err = templateError(r.topic);
          if (err) issues.push({ pos: posAt(loc, ['partners', i, 'receive', j, 'topic']), path: `partners[${i}].receive[${j}].topic`, message: `${JSON.stringify(r.topic)} is not a valid template: ${err}` });
        }),
      );
    },
  },
);

export type Config = Infer<typeof rootSchema>;

/** What a SIGHUP does with each section: declared beside each component's schema; the rest needs a restart. */
export const RELOAD: { [K in keyof Config]: Reload<Config[K]> } = {
  state_dir: 'restart',
  gateway_id: 'restart',
  log: 'restart',
  broker: brokerReload,
  mqtt: mqttReload,
  modbus: modbusReload,
  opcua: opcuaReload,
  journal: 'restart',
  batch: 'restart',
  clickhouse: 'restart',
  sinks: 'restart',
  partners: partnersReload,
  workers: 'restart',
  http: 'restart',
  shutdown: 'restart',
};

/** A reload, planned: the configuration to run with now, the sections it changes, and those whose change waits for a restart. */
export function planReload(running: Config, next: Config): { config: Config; applied: Array<keyof Config>; restart: Array<keyof Config> } {
  const config = { ...running } as Record<keyof Config, unknown>;
  const applied: Array<keyof Config> = [];
  const restart: Array<keyof Config> = [];
  for (const k of Object.keys(RELOAD) as Array<keyof Config>) {
    const r = reloadSection(RELOAD[k] as Reload<unknown>, running[k], next[k]);
    config[k] = r.value;
    if (r.pending) restart.push(k);
    if (JSON.stringify(r.value) !== JSON.stringify(running[k])) applied.push(k);
  }
  return { config: config as Config, applied, restart };
}

/** The sinks to run: `sinks`, or the one store of `clickhouse:` under the name `clickhouse`. */
export function sinkConfigs(cfg: Config): SinkConfig[] {
  return cfg.sinks.length ? cfg.sinks : [{ name: 'clickhouse', clickhouse: cfg.clickhouse, select: undefined }];
}
