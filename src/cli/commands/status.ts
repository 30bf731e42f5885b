import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { EXIT, type Args, configOf, flag, loopbackOf } from '../args.js';
import { FgError, errorMessage } from '../../core/errors.js';

interface Overview {
  gateway_id: string;
  uptime_s: number;
  ready: boolean;
  attention: Array<{ level: string; what: string; detail: string }>;
  broker: { listeners: Array<{ host: string; port: number }>; clients: number; messages: number };
  sources: Array<{ kind: string; name: string; up: boolean; last_success?: number }>;
  sinks: Array<{ name: string; state: string; lagChunks: number; lagBytes: number; lastError?: string }>;
  partners: Array<{ name: string; state: string; backlogRecords: number; lastError?: string }>;
  rates: { messages_per_s: number; rows_per_s: number };
  journal: { bytes: number; segments: number };
  disk: { free_bytes: number; low: boolean };
  dead_letters: { files: number; bytes: number };
  recent: Array<{ time: string; level: string; msg: string }>;
}

function get(o: { host: string; port: number; tls: boolean; path: string; auth?: string }): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const headers = o.auth ? { authorization: `Basic ${Buffer.from(o.auth).toString('base64')}` } : {};
    // The gateway's own certificate on loopback: the address is this machine, not a name to check.
    const req = (o.tls ? httpsRequest : httpRequest)({ host: o.host, port: o.port, path: o.path, headers, rejectUnauthorized: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

function bytes(n: number): string {
  return n >= 2 ** 30
    ? `${(n / 2 ** 30).toFixed(1)} GiB`
    : n >= 2 ** 20
      ? `${(n / 2 ** 20).toFixed(1)} MiB`
      : n >= 1024
        ? `${(n / 1024).toFixed(1)} KiB`
        : `${n} B`;
}

function ago(ms: number | undefined): string {
  if (!ms) return '';
  const s = Math.max(0, (Date.now() - ms) / 1000);
  return s < 60 ? `${Math.round(s)} s ago` : s < 3600 ? `${Math.round(s / 60)} min ago` : `${Math.round(s / 3600)} h ago`;
}

/** Rows as aligned columns. */
export function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return (
    rows
      .map((r) =>
        r
          .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i])))
          .join('  ')
          .trimEnd(),
      )
      .join('\n') + '\n'
  );
}

/** The overview of the running gateway, as a person reads it. */
export function statusText(o: Overview): string {
  const rows = [['PART', 'NAME', 'STATE', 'DETAIL']];
  for (const l of o.broker.listeners) rows.push(['MQTT listener', `${l.host}:${l.port}`, 'listening', `${o.broker.clients} clients`]);
  for (const s of o.sources)
    rows.push([
      s.kind === 'modbus' ? 'Modbus device' : 'OPC UA server',
      s.name,
      s.up ? 'up' : 'DOWN',
      s.last_success ? `last read ${ago(s.last_success)}` : '',
    ]);
  for (const s of o.sinks)
    rows.push([
      'Sink',
      s.name,
      s.state === 'connected' ? s.state : s.state.toUpperCase(),
      `${s.lagChunks} chunks behind${s.lastError ? `; ${s.lastError.split('\n')[0]}` : ''}`,
    ]);
  for (const p of o.partners)
    rows.push([
      'Partner',
      p.name,
      p.state === 'connected' ? p.state : p.state.toUpperCase(),
      `${p.backlogRecords} records waiting${p.lastError ? `; ${p.lastError}` : ''}`,
    ]);
  let out = `fieldgate ${o.gateway_id} · up ${Math.round(o.uptime_s / 60)} min · ${o.ready ? 'ready' : 'NOT READY'}\n\n`;
  out += o.attention.length
    ? `Needs attention:\n${o.attention.map((a) => `  ${a.level === 'error' ? '!!' : '! '} ${a.what}: ${a.detail}\n`).join('')}\n`
    : 'Every part is healthy.\n\n';
  out += table(rows);
  out +=
    `\n${o.rates.messages_per_s.toFixed(1)} messages/s, ${o.rates.rows_per_s.toFixed(1)} rows stored/s · journal ${bytes(o.journal.bytes)} in ${o.journal.segments} segment(s)` +
    ` · disk free ${bytes(o.disk.free_bytes)}${o.disk.low ? ' (LOW)' : ''} · dead letters ${o.dead_letters.files} file(s)\n`;
  if (o.recent.length)
    out += `\nLast warnings and errors:\n${o.recent
      .slice(0, 5)
      .map((r) => `  ${r.time}  ${r.level.toUpperCase().padEnd(5)} ${r.msg}\n`)
      .join('')}`;
  return out;
}

/** `fieldgate status -c FILE [--json] [--user NAME]`: the console's overview of the running gateway, as a table. */
export async function status(args: Args): Promise<number> {
  const cfg = configOf(args);
  const { host, port } = loopbackOf(cfg.http.bind);
  const tls = !!cfg.http.cert_file;
  const user = flag(args, '--user');
  const auth = user !== undefined ? `${user}:${process.env.FIELDGATE_PASSWORD ?? ''}` : undefined;
  const read = async (): Promise<Overview> => {
    let r;
    try {
      r = await get({ host, port, tls, path: '/api/overview', ...(auth ? { auth } : {}) });
    } catch (err) {
      throw new FgError('FG_E_QUERY', `the gateway does not answer on ${host}:${port} (is it running?): ${errorMessage(err)}`);
    }
    if (r.status === 401) throw new FgError('FG_E_USAGE', 'the console has users: give --user NAME and the password in FIELDGATE_PASSWORD');
    if (r.status !== 200) throw new FgError('FG_E_QUERY', `the gateway answered ${r.status}: ${r.body.slice(0, 200)}`);
    return JSON.parse(r.body) as Overview;
  };
  await read(); // rates are over the time between two reads
  await new Promise((r) => setTimeout(r, 1000));
  const o = await read();
  process.stdout.write(args.flags.has('--json') ? JSON.stringify(o, null, 2) + '\n' : statusText(o));
  return o.ready ? EXIT.ok : EXIT.failure;
}
