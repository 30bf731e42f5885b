import {
  array,
  bool,
  checkUnique,
  duration,
  entryPos,
  int,
  num,
  object,
  oneOf,
  optional,
  readNamedFile,
  secretOf,
  str,
  type Infer,
  type Issue,
  type Located,
  type Reload,
} from '../../core/schema.js';
import { parseBrowsePath, parseNodeId } from './nodeid.js';

export const SECURITY_MODES = ['None', 'Sign', 'SignAndEncrypt'] as const;
export const SECURITY_POLICIES = ['None', 'Basic128Rsa15', 'Basic256', 'Basic256Sha256', 'Aes128_Sha256_RsaOaep', 'Aes256_Sha256_RsaPss'] as const;

const deadband = object(
  {
    type: oneOf(['absolute', 'percent'], {
      description: 'absolute: engineering units; percent: of the EURange span (the server must know it).',
      default: 'absolute',
    }),
    value: num({ description: 'The band: a value closer than this to the last one reported is not reported.', default: 0 }),
  },
  {
    description: 'A data change filter. Asked of the server; applied by the gateway itself when the server refuses it.',
    check(v, loc, path, issues) {
      if (v.value < 0) issues.push({ pos: entryPos(loc, 'value'), path: `${path}.value`, message: `got ${v.value}, expected 0 or more` });
      if (v.type === 'percent' && v.value > 100)
        issues.push({ pos: entryPos(loc, 'value'), path: `${path}.value`, message: `got ${v.value}, expected a percentage 0–100` });
    },
  },
);

const node = object(
  {
    node_id: optional(
      str({
        description:
          'The node: ns=<index>;<id>, or nsu=<namespace URI>;<id> (stable when the server renumbers its namespaces). <id> is i=<number>, s=<string>, g=<guid> or b=<base64>.',
        example: '"ns=3;s=Line3.Oven.Temp"',
      }),
    ),
    browse_path: optional(
      str({
        description: 'The node by browse names from the root folder instead of node_id; a segment may carry its namespace index (2:Line3).',
        example: '/Objects/Line3/Press/Counter',
      }),
    ),
    tag: str({ description: 'The tag column of its rows (arrays: tag[0], tag[1] …).', minLength: 1 }),
    mode: oneOf(['subscribe', 'poll'], {
      description: 'subscribe: a monitored item (the server reports changes); poll: read every poll_interval.',
      default: 'subscribe',
    }),
    sampling_interval: optional(
      duration({ description: "How often the server samples the value (subscribe). Defaults to the server's publishing_interval.", min: 0 }),
    ),
    queue_size: optional(int({ description: 'Samples the server keeps between publishes (subscribe).', min: 1, max: 10_000 })),
    deadband: optional(deadband),
    poll_interval: optional(duration({ description: "For mode poll: how often it is read. Defaults to the server's poll_interval.", min: 50 })),
  },
  {
    description: 'One node to read.',
    required: ['tag'],
    check(v, loc, path, issues) {
      if ((v.node_id === undefined) === (v.browse_path === undefined)) {
        issues.push({ pos: loc.pos, path, message: 'give either node_id or browse_path, not both and not neither' });
        return;
      }
      if (v.node_id !== undefined) {
        const r = parseNodeId(v.node_id);
        if (typeof r === 'string') issues.push({ pos: entryPos(loc, 'node_id'), path: `${path}.node_id`, message: `got ${JSON.stringify(v.node_id)}: ${r}` });
      } else {
        const r = parseBrowsePath(v.browse_path!);
        if (typeof r === 'string')
          issues.push({ pos: entryPos(loc, 'browse_path'), path: `${path}.browse_path`, message: `got ${JSON.stringify(v.browse_path)}: ${r}` });
      }
      if (v.mode === 'poll') {
        for (const k of ['sampling_interval', 'queue_size', 'deadband'] as const) {
          if (v[k] !== undefined)
            issues.push({ pos: entryPos(loc, k), path: `${path}.${k}`, message: `${k} is for mode subscribe; a polled node is read every poll_interval` });
        }
      } else if (v.poll_interval !== undefined) {
        issues.push({ pos: entryPos(loc, 'poll_interval'), path: `${path}.poll_interval`, message: 'poll_interval is for mode poll' });
      }
    },
  },
);

const security = object(
  {
    mode: oneOf(SECURITY_MODES, {
      description: 'Message security. None sends everything in clear and is allowed with a warning at start.',
      default: 'SignAndEncrypt',
    }),
    policy: optional(oneOf(SECURITY_POLICIES, { description: 'Security policy; Basic256Sha256 when the mode is Sign or SignAndEncrypt and none is given.' })),
  },
  {
    description: 'How messages are protected.',
    check(v, loc, path, issues) {
      if (v.mode === 'None') {
        if (v.policy !== undefined && v.policy !== 'None')
          issues.push({ pos: entryPos(loc, 'policy'), path: `${path}.policy`, message: `mode None takes no policy (got ${v.policy})` });
        v.policy = 'None';
      } else {
        if (v.policy === 'None')
          issues.push({
            pos: entryPos(loc, 'policy'),
            path: `${path}.policy`,
            message: `mode ${v.mode} needs a policy other than None, such as Basic256Sha256`,
          });
        v.policy ??= 'Basic256Sha256';
      }
    },
  },
);

const auth = object(
  {
    type: oneOf(['anonymous', 'username', 'certificate'], { description: 'How the session logs in.', default: 'anonymous' }),
    username: optional(str({ description: 'type username: the user.' })),
    password: optional(str({ description: 'type username: the password; prefer ${ENV} or password_file.' })),
    password_file: optional(
      str({ description: 'type username: a file whose content (without the trailing newline) is the password.', example: '/etc/fieldgate/line3.pass' }),
    ),
    cert_file: optional(str({ description: 'type certificate: the user certificate (PEM).' })),
    key_file: optional(str({ description: 'type certificate: its private key (PEM).' })),
  },
  {
    description: 'The user identity of the session.',
    check(v, loc, path, issues) {
      checkAuth(v, loc, path, issues);
    },
  },
);

function checkAuth(v: Record<string, unknown>, loc: Located, path: string, issues: Issue[]): void {
  const forType: Record<string, string[]> = { anonymous: [], username: ['username', 'password', 'password_file'], certificate: ['cert_file', 'key_file'] };
  const allowed = forType[v.type as string];
  for (const k of ['username', 'password', 'password_file', 'cert_file', 'key_file']) {
    if (v[k] !== undefined && !allowed.includes(k))
      issues.push({ pos: entryPos(loc, k), path: `${path}.${k}`, message: `${k} is not used with type ${String(v.type)}` });
  }
  if (v.type === 'username') {
    if (v.username === undefined) issues.push({ pos: loc.pos, path: `${path}.username`, message: 'is required with type username' });
    if ((v.password === undefined) === (v.password_file === undefined))
      issues.push({ pos: loc.pos, path: `${path}.password`, message: 'type username needs password or password_file (one of them)' });
  }
  if (v.type === 'certificate') {
    for (const k of ['cert_file', 'key_file'])
      if (v[k] === undefined) issues.push({ pos: loc.pos, path: `${path}.${k}`, message: 'is required with type certificate' });
  }
  for (const k of ['password_file', 'cert_file', 'key_file']) {
    const file = v[k];
    if (typeof file !== 'string') continue;
    const text = readNamedFile(file, loc, k, path, issues);
    if (k === 'password_file' && text !== undefined) v.password = secretOf(text);
  }
}

const limits = object(
  {
    max_nodes_per_read: int({
      description: 'Nodes in one Read request; 0 reads the limit from the server (ServerCapabilities/OperationLimits).',
      default: 0,
      min: 0,
    }),
    max_monitored_items_per_call: int({ description: 'Monitored items in one CreateMonitoredItems request; 0 reads it from the server.', default: 0, min: 0 }),
    max_nodes_per_browse: int({ description: 'Nodes in one Browse request; 0 reads it from the server.', default: 0, min: 0 }),
  },
  {
    description:
      'Operation limits, for servers that do not state theirs or state them wrong. Requests are split to respect them (at most 1000 per request in any case).',
  },
);

const server = object(
  {
    name: str({ description: 'The device column of its rows, and the label of its metrics.', minLength: 1 }),
    endpoint: str({
      description: 'The server endpoint URL.',
      pattern: /^opc\.tcp:\/\/[^\s/]+(\/.*)?$/,
      expected: 'an opc.tcp:// URL such as opc.tcp://10.0.0.30:4840',
      example: 'opc.tcp://10.0.0.30:4840',
    }),
    security,
    auth,
    trust_on_first_use: bool({
      description:
        'Trust the server certificate seen on the first connection (kept in state_dir/pki/trusted); a later, different certificate is rejected like any unknown one. Off: only certificates placed in pki/trusted (fieldgate pki trust) are accepted.',
      default: false,
    }),
    publishing_interval: duration({ description: 'How often the server sends the changes of the subscription.', default: 1000, defaultText: '1s', min: 10 }),
    queue_size: int({ description: 'Samples the server keeps per item between publishes (a node may override).', default: 10, min: 1, max: 10_000 }),
    poll_interval: duration({ description: 'Read interval of nodes with mode poll (a node may override).', default: 10_000, defaultText: '10s', min: 50 }),
    request_timeout: duration({ description: 'Time limit of one request to the server.', default: 10_000, defaultText: '10s', min: 100 }),
    session_timeout: duration({
      description: 'Session timeout asked of the server; the session is kept alive well within it.',
      default: 60_000,
      defaultText: '60s',
      min: 1000,
    }),
    operation_limits: limits,
    nodes: array(node, {
      description: 'What to read.',
      example: '- { node_id: "ns=3;s=Line3.Oven.Temp", tag: oven/temp, sampling_interval: 500ms, deadband: { type: absolute, value: 0.1 } }',
    }),
  },
  {
    description: 'One OPC UA server.',
    required: ['name', 'endpoint'],
    check(v, loc, path, issues) {
      checkUnique(v.nodes, (n) => n.tag, 'tag', entryPos(loc, 'nodes'), `${path}.nodes`, issues);
    },
  },
);

export const opcuaSchema = object(
  {
    servers: array(server, {
      description: 'OPC UA servers to subscribe to.',
      example:
        '- name: line3\n  endpoint: opc.tcp://10.0.0.30:4840\n  security: { mode: SignAndEncrypt, policy: Basic256Sha256 }\n  nodes:\n    - { node_id: "ns=3;s=Line3.Oven.Temp", tag: oven/temp }',
    }),
  },
  {
    description: 'OPC UA subscriptions and polling. The application certificate and the trusted/rejected server certificates live in state_dir/pki.',
    check(v, loc, path, issues) {
      checkUnique(v.servers, (s) => s.name, 'server name', loc.pos, `${path}.servers`, issues);
    },
  },
);
export type OpcuaConfig = Infer<typeof opcuaSchema>;
export type OpcuaServerConfig = OpcuaConfig['servers'][number];
export type OpcuaNodeConfig = OpcuaServerConfig['nodes'][number];

/** SIGHUP applies servers and node lists (kept servers keep their session). */
export const opcuaReload: Reload<OpcuaConfig> = 'live';
