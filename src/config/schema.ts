/** The whole configuration: each component's slice, under its key. */
import { checkUnique, entryPos, object, posAt, str, type Infer } from '../core/schema.js';
import { brokerSchema } from '../broker/config.js';
import { mqttSchema, templateError } from '../encode/config.js';
import { partnersSchema } from '../partners/config.js';
import { batchSchema, journalSchema } from '../journal/config.js';
import { shutdownSchema, workersSchema } from '../pipeline/config.js';
import { clickhouseSchema } from '../sinks/clickhouse/config.js';
import { httpSchema, logSchema } from '../telemetry/config.js';
import { modbusSchema } from '../sources/modbus/config.js';
import { opcuaSchema } from '../sources/opcua/config.js';

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
    partners: partnersSchema,
    workers: workersSchema,
    http: httpSchema,
    shutdown: shutdownSchema,
  },
  {
    description: 'fieldgate configuration.',
    required: ['state_dir'],
    check(v, loc, _path, issues) {
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
