/** The whole configuration: each component's slice, under its key. */
import { object, str, type Infer } from '../core/schema.js';
import { brokerSchema } from '../broker/config.js';
import { mqttSchema } from '../encode/config.js';
import { batchSchema, journalSchema } from '../journal/config.js';
import { shutdownSchema, workersSchema } from '../pipeline/config.js';
import { clickhouseSchema } from '../sinks/clickhouse/config.js';
import { httpSchema, logSchema } from '../telemetry/config.js';
import { modbusSchema } from '../sources/modbus/config.js';
import { opcuaSchema } from '../sources/opcua/config.js';

export const rootSchema = object(
  {
    state_dir: str({ description: 'Folder for the journal, cursors, dead letters and the embedded store; relative paths are taken from the config file\'s folder.', example: './data', minLength: 1 }),
    log: logSchema,
    broker: brokerSchema,
    mqtt: mqttSchema,
    modbus: modbusSchema,
    opcua: opcuaSchema,
    journal: journalSchema,
    batch: batchSchema,
    clickhouse: clickhouseSchema,
    workers: workersSchema,
    http: httpSchema,
    shutdown: shutdownSchema,
  },
  { description: 'fieldgate configuration.', required: ['state_dir'] },
);

export type Config = Infer<typeof rootSchema>;
