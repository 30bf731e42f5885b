import { array, bool, duration, entryPos, object, oneOf, optional, str, type Infer, type Reload } from '../core/schema.js';
import { compileTemplate } from './topics.js';

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

const column = object(
  {
    name: str({ description: 'The column of the table.', pattern: IDENT, expected: 'a column name (letters, digits, _)' }),
    topic: optional(str({ description: 'Filled from this capture of the topic template.' })),
    json: optional(str({ description: 'Filled from this dot path of the JSON payload (sensors.temp, items.0.value).' })),
    payload: optional(bool({ description: 'Filled with the whole payload (format number: the number; raw: the text).' })),
    received: optional(bool({ description: 'Filled with the receive time.' })),
    const: optional(str({ description: 'Filled with this constant.' })),
  },
  {
    description: 'One column of a custom table and where its value comes from (exactly one of topic, json, payload, received, const).',
    required: ['name'],
    check(v, loc, path, issues) {
      const given = (['topic', 'json', 'payload', 'received', 'const'] as const).filter((k) => v[k] !== undefined && v[k] !== false);
      if (given.length !== 1)
        issues.push({
          pos: loc.pos,
          path,
          message: `give exactly one of topic, json, payload, received, const (got ${given.length ? given.join(', ') : 'none'})`,
        });
    },
  },
);

const route = object(
  {
    topic: str({
      description:
        'Topic template: MQTT levels where {name} captures one level and {name+} the rest (as in plant/{device}/{tag+}); + and # match without capturing.',
      example: 'plant/{device}/{tag+}',
      minLength: 1,
    }),
    format: oneOf(['number', 'json', 'raw', 'sparkplug'], {
      description:
        "number: the payload is one value as text; json: an object of tags, a {value, ts, quality} object, or an array of those; raw: the payload is kept as text; sparkplug: Sparkplug B (spBv1.0) protobuf, device = group/edge[/device], tag = metric name (the route's device and tag are not used).",
      default: 'number',
    }),
    device: str({ description: 'The device column: a template over the captures, or a constant.', default: '{device}' }),
    tag: str({ description: 'The tag column: a template over the captures; JSON keys are appended with /.', default: '{tag}' }),
    table: optional(
      str({
        description:
          "A custom table (in clickhouse.database) instead of the points table: one row per message, columns filled as `columns` says, typed by the table's own column types.",
        pattern: IDENT,
        expected: 'a table name (letters, digits, _)',
      }),
    ),
    columns: array(column, {
      description: "For table: the columns to fill; the table's other columns take their defaults.",
      example: '- { name: line, topic: line }\n- { name: temp, json: sensors.temp }\n- { name: received_at, received: true }',
    }),
  },
  {
    description: 'A route: which topics are ingested, how their payloads are read, and what they are called.',
    check(v, loc, path, issues) {
      const t = compileTemplate(v.topic);
      if (t.error) {
        issues.push({ pos: entryPos(loc, 'topic'), path: `${path}.topic`, message: `${JSON.stringify(v.topic)} is not a valid template: ${t.error}` });
        return;
      }
      if (v.table === undefined) {
        if (v.columns.length) issues.push({ pos: entryPos(loc, 'columns'), path: `${path}.columns`, message: 'columns are for a route with table' });
        return;
      }
      if (v.format === 'sparkplug') issues.push({ pos: entryPos(loc, 'table'), path: `${path}.table`, message: 'a sparkplug route writes the points table' });
      if (!v.columns.length) issues.push({ pos: entryPos(loc, 'table'), path: `${path}.columns`, message: 'a route with table needs columns' });
      const seen = new Set<string>();
      v.columns.forEach((c, i) => {
        if (seen.has(c.name)) issues.push({ pos: entryPos(loc, 'columns'), path: `${path}.columns[${i}].name`, message: `column ${c.name} is given twice` });
        seen.add(c.name);
        if (c.topic !== undefined && !t.names.includes(c.topic))
          issues.push({
            pos: entryPos(loc, 'columns'),
            path: `${path}.columns[${i}].topic`,
            message: `${JSON.stringify(c.topic)} is not a capture of ${JSON.stringify(v.topic)} (captures: ${t.names.join(', ') || 'none'})`,
          });
        if (c.json !== undefined && v.format !== 'json')
          issues.push({ pos: entryPos(loc, 'columns'), path: `${path}.columns[${i}].json`, message: 'json paths need format json' });
      });
    },
  },
);

export const mqttSchema = object(
  {
    routes: array(route, {
      description: 'Routes, first match wins. A message no route matches is counted (reason no_route) and not stored.',
      example: '- { topic: "plant/{device}/{tag+}", format: number }',
    }),
    max_past: duration({
      description: 'A value timestamped further back than this from its receive time takes the receive time (counted).',
      default: 30 * 86_400_000,
      defaultText: '30d',
    }),
    max_future: duration({
      description:
        'A value timestamped further ahead than this takes the receive time (counted): gateways without a battery clock and drifting PLC clocks are normal.',
      default: 300_000,
      defaultText: '5m',
    }),
    unmatched: oneOf(['count', 'raw'], {
      description: 'What to do with messages no route matches: count them, or store them as raw text under device "unrouted".',
      default: 'count',
    }),
    sparkplug: object(
      {
        host_id: str({
          description: 'The Sparkplug host application id: fieldgate publishes spBv1.0/STATE/<host_id> (retained, online/offline).',
          default: 'fieldgate',
          pattern: /^[^/+#]+$/,
          expected: 'a name without /, + or #',
        }),
        rebirth_interval: duration({
          description:
            'At most one Rebirth request (NCMD Node Control/Rebirth) per edge node in this time, after an unknown alias, a message before any birth, or a sequence gap.',
          default: 30_000,
          defaultText: '30s',
          min: 1000,
        }),
      },
      { description: 'Sparkplug B host settings (used when a route has format sparkplug).' },
    ),
  },
  {
    description: 'How MQTT messages become rows.',
    check(v, loc, path, issues) {
      // One insert per chunk and table: routes into the same table fill the same columns.
      const byTable = new Map<string, string>();
      v.routes.forEach((r, i) => {
        if (r.table === undefined) return;
        const cols = r.columns.map((c) => c.name).join(',');
        const prev = byTable.get(r.table);
        if (prev !== undefined && prev !== cols)
          issues.push({
            pos: entryPos(loc, 'routes'),
            path: `${path}.routes[${i}].columns`,
            message: `routes into table ${r.table} must fill the same columns in the same order (${prev})`,
          });
        byTable.set(r.table, cols);
      });
    },
  },
);
export type MqttConfig = Infer<typeof mqttSchema>;
/** A route; `source` (not written in YAML) names where its rows come from: partner:<name> for a partner's receive topics. */
export type RouteConfig = MqttConfig['routes'][number] & { source?: string };

/** Why a topic template is invalid, or undefined (for other sections' templates: partners' receive topics). */
export function templateError(topic: string): string | undefined {
  return compileTemplate(topic).error;
}

/** SIGHUP applies routes to every chunk encoded afterwards; custom tables and Sparkplug settings need a restart. */
export const mqttReload: Reload<MqttConfig> = {
  decide(prev, next) {
    const fixed = (c: MqttConfig) =>
      JSON.stringify({
        tables: c.routes.filter((r) => r.table !== undefined || r.format === 'sparkplug').map((r) => [r.table, r.columns, r.format]),
        sparkplug: c.sparkplug,
      });
    return fixed(prev) === fixed(next) ? 'live' : 'restart';
  },
};
