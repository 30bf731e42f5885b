import { selectSchema } from '../core/glob.js';
import {
  array,
  bool,
  bytes,
  duration,
  entryPos,
  int,
  object,
  oneOf,
  oneOrMany,
  optional,
  readNamedFile,
  secretOf,
  str,
  type Infer,
  type Reload,
} from '../core/schema.js';

const NAME = /^[A-Za-z0-9_-]{1,64}$/;
/** Placeholders a send topic may use. */
export const TOPIC_FIELDS = ['gateway', 'partner', 'device', 'tag'] as const;
export const AGGREGATES = ['last', 'first', 'min', 'max', 'avg', 'sum', 'count'] as const;
export type Aggregate = (typeof AGGREGATES)[number];

const sendEntry = object(
  {
    select: oneOrMany(selectSchema, {
      description: 'The values this entry sends: one select or a list (any may match). Values no entry selects never leave.',
      example: '{ device: "press*", tag: "count*" }',
    }),
    every: optional(
      duration({
        description:
          "At most one message per tag per interval of this length (aligned to the clock, by the values' own timestamps): the last value, or the aggregates. Computed from the journal, so a replay sends what live operation did.",
        min: 100,
        example: '10s',
      }),
    ),
    aggregate: array(oneOf(AGGREGATES, { description: 'An aggregate over the interval.' }), {
      description: 'With every: aggregates of each interval, each a field of the message (empty: the last value).',
      example: '[last, min, max, avg, count]',
    }),
    topic: str({
      description:
        'The MQTT topic of each message: {gateway}, {partner}, {device}, {tag} are filled in (+ and # in names become _). For a webhook, a field of each message.',
      default: 'fieldgate/{gateway}/{device}/{tag}',
    }),
    format: oneOf(['json', 'sparkplug', 'opcua-json'], {
      description:
        'json: one documented JSON object per value (docs/chain.md); sparkplug: Sparkplug B as an edge node (spBv1.0/<group>/DDATA/<edge>/<device>, births included; topic is not used); opcua-json: OPC UA Part 14 PubSub JSON network messages.',
      default: 'json',
    }),
    qos: int({
      description: 'MQTT QoS of the messages. 1: a value counts as sent once the partner broker acknowledged it; 0: once written to the socket (may be lost).',
      default: 1,
      min: 0,
      max: 1,
    }),
  },
  {
    description: 'One kind of message sent to the partner.',
    required: ['select'],
    check(v, loc, path, issues) {
      if (v.aggregate.length && v.every === undefined)
        issues.push({ pos: entryPos(loc, 'aggregate'), path: `${path}.aggregate`, message: 'aggregates need every (the interval they are computed over)' });
      for (const m of v.topic.matchAll(/\{([^}]*)\}/g)) {
        if (!(TOPIC_FIELDS as readonly string[]).includes(m[1]))
          issues.push({
            pos: entryPos(loc, 'topic'),
            path: `${path}.topic`,
            message: `{${m[1]}} is not a placeholder; expected {${TOPIC_FIELDS.join('}, {')}}`,
          });
      }
      if (/[+#]/.test(v.topic.replace(/\{[^}]*\}/g, '')))
        issues.push({
          pos: entryPos(loc, 'topic'),
          path: `${path}.topic`,
          message: `${JSON.stringify(v.topic)} holds + or #; a topic to publish to is a name, not a filter`,
        });
      if (v.format === 'sparkplug' && v.aggregate.length > 1)
        issues.push({
          pos: entryPos(loc, 'aggregate'),
          path: `${path}.aggregate`,
          message: 'sparkplug sends one value per metric; give at most one aggregate (or none: the last value)',
        });
    },
  },
);

const receiveEntry = object(
  {
    topic: str({
      description:
        "A topic template on the partner's broker (as in mqtt.routes): subscribed to, and each message stored like local data with source partner:<name>.",
      minLength: 1,
      example: 'orders/acme/{device}/{tag+}',
    }),
    format: oneOf(['number', 'json', 'raw'], { description: 'How the payloads are read (as in mqtt.routes).', default: 'json' }),
    device: str({ description: 'The device column: a template over the captures, or a constant.', default: '{device}' }),
    tag: str({ description: 'The tag column: a template over the captures.', default: '{tag}' }),
    qos: int({
      description: 'QoS of the subscription. With 1 a message is acknowledged to the partner only once it is in the journal.',
      default: 1,
      min: 0,
      max: 1,
    }),
  },
  { description: 'Topics taken from the partner and stored.', required: ['topic'] },
);

const brokerTarget = object(
  {
    url: str({
      description: "The partner's MQTT broker (3.1.1).",
      pattern: /^mqtts?:\/\/[^\s/]+\/?$/,
      expected: 'mqtt://host:port or mqtts://host:port',
      example: 'mqtts://platform.oem.example:8883',
    }),
    client_id: str({
      description: 'Our client id at the partner (a persistent session: orders sent while the uplink is down arrive afterwards).',
      minLength: 1,
      example: 'acme-line3',
    }),
    ca_file: optional(
      str({
        description: "mqtts: PEM of the CA that signed the partner broker's certificate (the system CAs otherwise).",
        example: '/etc/fieldgate/oem-ca.pem',
      }),
    ),
    cert_file: optional(str({ description: 'mqtts: our client certificate (PEM), when the partner asks for one.', example: '/etc/fieldgate/acme.pem' })),
    key_file: optional(str({ description: 'mqtts: the key of cert_file (PEM).', example: '/etc/fieldgate/acme.key' })),
    servername: optional(str({ description: "mqtts: the name the partner's certificate must carry, when it differs from the URL's host." })),
    username: optional(str({ description: 'Username at the partner broker.' })),
    password: optional(str({ description: 'Password; prefer password_file.', example: '${OEM_PASSWORD}' })),
    password_file: optional(str({ description: 'A file whose content (without the trailing newline) is the password.', example: '/etc/fieldgate/oem.pass' })),
    keepalive: duration({ description: 'MQTT keepalive: a silent link is noticed within 1.5 times this.', default: 30_000, defaultText: '30s', min: 1000 }),
    connect_timeout: duration({ description: 'Time limit of one connection attempt (TCP, TLS and CONNACK).', default: 10_000, defaultText: '10s', min: 100 }),
  },
  {
    description: "The partner's MQTT broker, reached from the gateway.",
    required: ['url', 'client_id'],
    check(v, loc, path, issues) {
      if (v.password !== undefined && v.password_file !== undefined)
        issues.push({ pos: loc.pos, path: `${path}.password_file`, message: 'give password or password_file, not both' });
      if ((v.cert_file === undefined) !== (v.key_file === undefined))
        issues.push({
          pos: loc.pos,
          path: `${path}.${v.cert_file === undefined ? 'cert_file' : 'key_file'}`,
          message: 'a client certificate needs both cert_file and key_file',
        });
      const tls = v.url.startsWith('mqtts:');
      for (const k of ['ca_file', 'cert_file', 'key_file'] as const) {
        if (v[k] === undefined) continue;
        if (!tls) issues.push({ pos: entryPos(loc, k), path: `${path}.${k}`, message: `${k} needs an mqtts:// url` });
        else readNamedFile(v[k], loc, k, path, issues);
      }
      if (v.password_file !== undefined) {
        const text = readNamedFile(v.password_file, loc, 'password_file', path, issues);
        if (text !== undefined) v.password = secretOf(text);
      }
    },
  },
);

const webhookTarget = object(
  {
    url: str({
      description: "The partner's HTTPS endpoint; each batch is one POST of JSON.",
      pattern: /^https?:\/\/[^\s/]+(\/.*)?$/,
      expected: 'an https:// URL (http:// only for tests on loopback)',
      example: 'https://platform.oem.example/ingest/acme',
    }),
    bearer_token_file: optional(str({ description: 'A file holding the token sent as Authorization: Bearer <token>.', example: '/etc/fieldgate/oem.token' })),
    hmac_secret_file: optional(str({ description: 'A file holding a secret: each POST carries X-Fieldgate-Signature: sha256=<hex HMAC of the body>.' })),
    ca_file: optional(str({ description: "PEM of the CA that signed the endpoint's certificate (the system CAs otherwise)." })),
    batch_max: int({ description: 'At most this many messages per POST.', default: 500, min: 1, max: 100_000 }),
    timeout: duration({ description: 'Time limit of one POST.', default: 10_000, defaultText: '10s', min: 100 }),
  },
  {
    description:
      'An HTTPS webhook instead of a broker: batches of JSON messages with an Idempotency-Key per batch; 2xx advances, 408/429/5xx retry with backoff, other 4xx go to the dead letters with the answer.',
    required: ['url'],
    check(v, loc, path, issues) {
      if (v.url.startsWith('http:') && !/^http:\/\/(127\.\d+\.\d+\.\d+|\[::1\]|localhost)(:\d+)?(\/|$)/.test(v.url))
        issues.push({
          pos: entryPos(loc, 'url'),
          path: `${path}.url`,
          message: `${v.url} is plain http to another host: what is shared would cross the network unencrypted; expected https://`,
        });
      for (const k of ['bearer_token_file', 'hmac_secret_file', 'ca_file'] as const) if (v[k] !== undefined) readNamedFile(v[k], loc, k, path, issues);
    },
  },
);

const partner = object(
  {
    name: str({
      description: 'The label in metrics, logs, audit files and status; also the cursor name.',
      pattern: NAME,
      expected: 'up to 64 letters, digits, _ or -',
      example: 'oem',
    }),
    broker: optional(brokerTarget),
    webhook: optional(webhookTarget),
    send: array(sendEntry, {
      description: 'An allow-list: values that no entry selects never leave. Values a partner sent are never sent on.',
      example: '- { select: { device: "press*", tag: "count*" }, topic: "suppliers/acme/{device}/{tag}", qos: 1 }',
    }),
    receive: array(receiveEntry, {
      description: "The partner's topics to subscribe to and store (broker only).",
      example: '- { topic: "orders/acme/{device}/{tag+}", format: json }',
    }),
    max_rate: int({
      description: 'At most this many messages a second to the partner, so a replay after an outage does not flood it (0: no limit).',
      default: 1000,
      min: 0,
    }),
    from: oneOf(['end', 'earliest'], {
      description: "Where a partner without a cursor starts: at the journal's end (only what comes next), or at the oldest value the journal holds.",
      default: 'end',
    }),
    enabled: bool({ description: 'false: configured, previewable, sends and receives nothing (its cursor does not hold the journal back).', default: true }),
    retry_initial: duration({
      description: 'First delay after a failed send or connection; doubles up to retry_max, with jitter.',
      default: 500,
      defaultText: '500ms',
      min: 1,
    }),
    retry_max: duration({ description: 'Longest delay between retries.', default: 30_000, defaultText: '30s', min: 1 }),
    receive_max_bytes: bytes({
      description: 'A message from the partner larger than this is acknowledged, counted (reason too_large) and not stored.',
      default: 1024 * 1024,
      defaultText: '1MiB',
      min: 16,
    }),
    audit_max_bytes: bytes({
      description: 'Size cap of state_dir/audit/<name>.jsonl; past it the file is rotated once (<name>.jsonl.1).',
      default: 16 * 1024 * 1024,
      defaultText: '16MiB',
      min: 4096,
    }),
    sparkplug: object(
      {
        group_id: str({ description: 'Sparkplug group id of the messages.', default: 'fieldgate', pattern: /^[^/+#]+$/, expected: 'a name without /, + or #' }),
        edge_node_id: str({
          description: 'Sparkplug edge node id; empty: gateway_id.',
          default: '',
          pattern: /^[^/+#]*$/,
          expected: 'a name without /, + or #',
        }),
      },
      { description: 'For send entries with format sparkplug.' },
    ),
  },
  {
    description: "A partner (a customer's or supplier's platform) that gets chosen values and may send orders back.",
    required: ['name'],
    check(v, loc, path, issues) {
      if ((v.broker === undefined) === (v.webhook === undefined))
        issues.push({ pos: loc.pos, path: `${path}.broker`, message: 'give either broker or webhook' });
      if (v.webhook !== undefined && v.receive.length)
        issues.push({ pos: entryPos(loc, 'receive'), path: `${path}.receive`, message: 'receive needs a broker (a webhook only sends)' });
      if (v.webhook !== undefined && v.send.some((s) => s.format === 'sparkplug'))
        issues.push({ pos: entryPos(loc, 'send'), path: `${path}.send`, message: 'format sparkplug needs a broker' });
      if (!v.send.length && !v.receive.length) issues.push({ pos: loc.pos, path: `${path}.send`, message: 'a partner needs send or receive entries' });
    },
  },
);

export const partnersSchema = array(partner, {
  description:
    'Partners: platforms of customers and suppliers. Each send target reads the journal with its own cursor (a durable outbox): a partner offline for a day gets the backlog afterwards, in order, paced by max_rate.',
  example:
    '- name: oem\n  broker: { url: "mqtts://platform.oem.example:8883", client_id: acme-line3 }   # ca_file, cert_file, key_file, username, password_file as the partner asks\n  send:\n    - { select: { device: "press*", tag: "count*" }, every: 10s, aggregate: [last, max], topic: "suppliers/acme/{device}/{tag}" }\n  receive:\n    - { topic: "orders/acme/{device}/{tag+}", format: json }',
});

export type PartnersConfig = Infer<typeof partnersSchema>;
export type PartnerConfig = PartnersConfig[number];
export type SendEntry = PartnerConfig['send'][number];
export type ReceiveEntry = PartnerConfig['receive'][number];

/** SIGHUP applies partners: added ones start, removed ones stop, changed ones go on from their cursor. */
export const partnersReload: Reload<PartnersConfig> = 'live';
