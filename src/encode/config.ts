import { array, duration, object, oneOf, str, type Infer } from '../core/schema.js';
import { compileTemplate } from './topics.js';

const route = object(
  {
    topic: str({
      description: 'Topic template: MQTT levels where {name} captures one level and {name+} the rest (as in plant/{device}/{tag+}); + and # match without capturing.',
      example: 'plant/{device}/{tag+}',
      minLength: 1,
    }),
    format: oneOf(['number', 'json', 'raw', 'sparkplug'], { description: 'number: the payload is one value as text; json: an object of tags, a {value, ts, quality} object, or an array of those; raw: the payload is kept as text; sparkplug: Sparkplug B (spBv1.0) protobuf, device = group/edge[/device], tag = metric name (the route\'s device and tag are not used).', default: 'number' }),
    device: str({ description: 'The device column: a template over the captures, or a constant.', default: '{device}' }),
    tag: str({ description: 'The tag column: a template over the captures; JSON keys are appended with /.', default: '{tag}' }),
  },
  {
    description: 'A route: which topics are ingested, how their payloads are read, and what they are called.',
    check(v, loc, path, issues) {
      const err = compileTemplate(v.topic).error;
      if (err) issues.push({ pos: loc.kind === 'map' ? (loc.entries.find((e) => e.key === 'topic')?.value.pos ?? loc.pos) : loc.pos, path: `${path}.topic`, message: `${JSON.stringify(v.topic)} is not a valid template: ${err}` });
    },
  },
);

export const mqttSchema = object(
  {
    routes: array(route, { description: 'Routes, first match wins. A message no route matches is counted (reason no_route) and not stored.', example: '- { topic: "plant/{device}/{tag+}", format: number }' }),
    max_past: duration({ description: 'A value timestamped further back than this from its receive time takes the receive time (counted).', default: 30 * 86_400_000, defaultText: '30d' }),
    max_future: duration({ description: 'A value timestamped further ahead than this takes the receive time (counted): gateways without a battery clock and drifting PLC clocks are normal.', default: 300_000, defaultText: '5m' }),
    unmatched: oneOf(['count', 'raw'], { description: 'What to do with messages no route matches: count them, or store them as raw text under device "unrouted".', default: 'count' }),
    sparkplug: object(
      {
        host_id: str({ description: 'The Sparkplug host application id: fieldgate publishes spBv1.0/STATE/<host_id> (retained, online/offline).', default: 'fieldgate', pattern: /^[^/+#]+$/, expected: 'a name without /, + or #' }),
        rebirth_interval: duration({ description: 'At most one Rebirth request (NCMD Node Control/Rebirth) per edge node in this time, after an unknown alias, a message before any birth, or a sequence gap.', default: 30_000, defaultText: '30s', min: 1000 }),
      },
      { description: 'Sparkplug B host settings (used when a route has format sparkplug).' },
    ),
  },
  { description: 'How MQTT messages become rows.' },
);
export type MqttConfig = Infer<typeof mqttSchema>;
export type RouteConfig = MqttConfig['routes'][number];
