import {
  array,
  bool,
  bytes,
  duration,
  entryPos,
  int,
  listenAddress,
  object,
  oneOf,
  optional,
  readNamedFile,
  str,
  type Infer,
  type Issue,
  type Located,
  type Reload,
} from '../core/schema.js';
import { parseMosquittoAcl } from './acl.js';
import { parsePasswordFile, userSchema } from '../core/passwords.js';

const listener = object(
  {
    type: oneOf(['tcp', 'tls', 'ws', 'wss'], {
      description: 'tcp: plain MQTT 3.1/3.1.1; tls: MQTT over TLS; ws/wss: MQTT over WebSocket (wss with TLS).',
      default: 'tcp',
    }),
    bind: listenAddress({ description: 'Address and port to listen on.', example: '127.0.0.1:1883' }),
    path: str({ description: 'ws, wss: the HTTP path of the WebSocket.', default: '/mqtt', pattern: /^\/\S*$/, expected: 'a path such as /mqtt' }),
    cert_file: optional(str({ description: 'tls, wss: the server certificate (PEM, with its chain).' })),
    key_file: optional(str({ description: 'tls, wss: its private key (PEM).' })),
    ca_file: optional(str({ description: 'tls, wss: CA certificates (PEM) that client certificates must chain to.' })),
    require_client_cert: bool({ description: 'tls, wss: refuse clients without a certificate signed by ca_file.', default: false }),
    cn_as_username: bool({
      description: "tls, wss: a client certificate's common name (CN) is the client's username (for ACLs); no password is asked.",
      default: false,
    }),
    allow_anonymous: optional(
      bool({ description: 'Accept clients without a username. Default: on loopback listeners only; true elsewhere logs a warning at start.' }),
    ),
  },
  {
    description: 'One MQTT listener.',
    required: ['bind'],
    check(v, loc, path, issues) {
      const secure = v.type === 'tls' || v.type === 'wss';
      for (const k of ['cert_file', 'key_file'] as const)
        if (secure && v[k] === undefined) issues.push({ pos: loc.pos, path: `${path}.${k}`, message: `is required for type ${v.type}` });
      for (const k of ['cert_file', 'key_file', 'ca_file'] as const) {
        if (!secure && v[k] !== undefined) issues.push({ pos: entryPos(loc, k), path: `${path}.${k}`, message: `${k} is for tls and wss listeners` });
        else if (v[k] !== undefined) readNamedFile(v[k], loc, k, path, issues);
      }
      if (v.require_client_cert && v.ca_file === undefined)
        issues.push({
          pos: entryPos(loc, 'require_client_cert'),
          path: `${path}.ca_file`,
          message: 'require_client_cert needs ca_file (the CA client certificates chain to)',
        });
      if (v.cn_as_username && !v.require_client_cert)
        issues.push({ pos: entryPos(loc, 'cn_as_username'), path: `${path}.cn_as_username`, message: 'cn_as_username needs require_client_cert: true' });
    },
  },
);

const DEFAULT_LISTENER: Infer<typeof listener> = {
  type: 'tcp',
  bind: '127.0.0.1:1883',
  path: '/mqtt',
  require_client_cert: false,
  cn_as_username: false,
  cert_file: undefined,
  key_file: undefined,
  ca_file: undefined,
  allow_anonymous: undefined,
};

const rule = object(
  {
    user: optional(str({ description: 'Only for this username.' })),
    client: optional(str({ description: 'Only for this client id.' })),
    topic: str({ description: 'A topic filter (+, #); %u is the username, %c the client id.', minLength: 1 }),
    access: oneOf(['read', 'write', 'readwrite', 'deny'], { description: 'read: subscribe and receive; write: publish; deny: neither.', default: 'readwrite' }),
  },
  {
    description: 'One access rule. Rules are checked in order and the first that applies decides; once any rule exists, what none allows is denied.',
    required: ['topic'],
  },
);

const limits = object(
  {
    max_connections: int({ description: 'Clients connected at once; more are refused (0: no limit).', default: 1000, min: 0 }),
    max_packet_size: bytes({
      description: 'Largest MQTT packet accepted; a client that sends a larger one is disconnected.',
      default: 1024 * 1024,
      defaultText: '1MiB',
      min: 64,
    }),
    max_inflight: int({ description: 'QoS 2 messages a client may have awaiting PUBREL; more close the connection.', default: 100, min: 1, max: 65_535 }),
    keepalive_max: int({
      description: 'Longest keep-alive (seconds) a client may ask for; a client asking for more, or for none (0), is refused. 0 here: any.',
      default: 0,
      min: 0,
      max: 65_535,
    }),
    max_unsent: bytes({
      description:
        'Bytes a subscriber may have unsent in its connection; QoS 0 messages for it beyond this are dropped (at most once) and counted in fieldgate_broker_flood_drops_total{reason="unsent_limit"}. QoS 1 and 2 are never dropped here.',
      default: 8 * 1024 * 1024,
      defaultText: '8MiB',
      min: 1024,
    }),
    slow_consumer_timeout: duration({
      description: 'A subscriber whose socket has not drained for this long is disconnected, so it cannot stall delivery to others.',
      default: 30_000,
      defaultText: '30s',
      min: 100,
    }),
    max_topic_levels: int({ description: 'Topic levels a PUBLISH or SUBSCRIBE may have; deeper ones close the connection.', default: 32, min: 1, max: 100 }),
    connect_timeout: duration({ description: 'Time a new connection has to send CONNECT.', default: 10_000, defaultText: '10s', min: 100 }),
  },
  { description: 'Limits that keep one client from hurting the others.' },
);

export const brokerSchema = object(
  {
    listeners: {
      ...array(listener, { description: 'Where devices connect.', example: '- { type: tcp, bind: "127.0.0.1:1883" }' }),
      default: [DEFAULT_LISTENER],
      defaultText: '[{ type: tcp, bind: "127.0.0.1:1883" }]',
    },
    users: array(userSchema, {
      description: 'Users and their password hashes (fieldgate passwd prints one).',
      example:
        '- { username: press1, password_hash: "$fg-scrypt$N=16384,r=8,p=1$RpCXzf0B6S5EsA+yqxNUFQ==$OmrVouhPH9PtmaBJlw+uufvFJWrvnmHy2JiT0X11r5E=" }   # fieldgate passwd; this one is change-me',
    }),
    password_file: optional(
      str({
        description: 'A mosquitto-style password file (user:hash lines; fieldgate or mosquitto $7$/$6$ hashes), re-read on SIGHUP.',
        example: '/etc/fieldgate/passwd',
      }),
    ),
    acl: array(rule, {
      description: 'Access rules, in order.',
      example: '- { user: press1, topic: "plant/press1/#", access: write }\n- { topic: "plant/%u/#", access: readwrite }',
    }),
    acl_file: optional(
      str({ description: "A mosquitto acl_file (user/topic/pattern lines), re-read on SIGHUP; its rules come after acl's.", example: '/etc/fieldgate/acl' }),
    ),
    persistence: oneOf(['disk', 'memory'], {
      description:
        'Where retained messages and the sessions of clean-session-false clients (subscriptions, queued QoS 1/2 messages) live: disk (state_dir/broker, LevelDB) survives a restart; memory does not.',
      default: 'disk',
    }),
    limits,
  },
  {
    description: 'The embedded MQTT broker (aedes) devices publish to.',
    check(v, loc, path, issues) {
      checkFiles(v, loc, path, issues);
    },
  },
);

function checkFiles(v: { password_file?: string; acl_file?: string }, loc: Located, path: string, issues: Issue[]): void {
  if (v.password_file !== undefined) {
    const text = readNamedFile(v.password_file, loc, 'password_file', path, issues);
    for (const p of text === undefined ? [] : parsePasswordFile(text).problems)
      issues.push({ pos: entryPos(loc, 'password_file'), path: `${path}.password_file`, message: `${v.password_file}:${p.line}: ${p.message}` });
  }
  if (v.acl_file !== undefined) {
    const text = readNamedFile(v.acl_file, loc, 'acl_file', path, issues);
    for (const p of text === undefined ? [] : parseMosquittoAcl(text).problems)
      issues.push({ pos: entryPos(loc, 'acl_file'), path: `${path}.acl_file`, message: `${v.acl_file}:${p.line}: ${p.message}` });
  }
}

export type BrokerConfig = Infer<typeof brokerSchema>;
export type ListenerConfig = BrokerConfig['listeners'][number];

/** SIGHUP applies users and access rules (connected clients stay); listeners, limits and persistence need a restart. */
export const brokerReload: Reload<BrokerConfig> = { live: ['users', 'password_file', 'acl', 'acl_file'] };
