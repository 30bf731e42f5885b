// Test-only: a minimal ClickHouse HTTP front that hands each request's query,
// settings and body to chDB (ClickHouse 26.x in process), so the gateway's HTTP
// sink can be exercised against a modern engine that deduplicates by token.
// What it does not cover: a real server's HTTP stack (compression, sessions,
// keep-alive timeouts, auth), replicated or Distributed tables, and
// insert_deduplication_token semantics across replicas.
// Usage: node chdb-front.mjs <store-dir> <port>
import { createServer } from 'node:http';
import { writeFileSync, unlinkSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';

const { Session } = createRequire(import.meta.url)('chdb');
const [dir, port] = process.argv.slice(2);
mkdirSync(join(dir, 'spool'), { recursive: true });
const session = new Session(dir, { installSignalHandlers: false });
const CLIENT_PARAMS = new Set([
  'query',
  'query_id',
  'database',
  'default_format',
  'session_id',
  'user',
  'password',
  'enable_http_compression',
  'wait_end_of_query',
]);
const stats = { inserts: 0, tokens: [] };
let seq = 0;
let tail = Promise.resolve();

function literal(v) {
  return /^-?\d+(\.\d+)?$/.test(v) ? v : `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

async function handle(url, body) {
  let query = url.searchParams.get('query');
  let data;
  if (query === null) query = body.toString('utf8');
  else data = body;
  const settings = [...url.searchParams].filter(([k]) => !CLIENT_PARAMS.has(k));
  const m = /^\s*INSERT\s+INTO\s+(\S+)\s+FORMAT\s+RowBinary\s*$/i.exec(query);
  if (m) {
    const table = m[1].replace(/`/g, '');
    const [db, t] = table.includes('.') ? table.split('.') : ['default', table];
    const cols = (
      await session.queryAsync(`SELECT name, type FROM system.columns WHERE database = '${db}' AND table = '${t}' ORDER BY position`, {
        format: 'TabSeparatedRaw',
      })
    )
      .text()
      .trim()
      .split('\n')
      .map((l) => l.split('\t').join(' '))
      .join(', ');
    const file = join(dir, 'spool', `front-${seq++}.rb`);
    writeFileSync(file, data ?? Buffer.alloc(0));
    try {
      const s = settings.length ? ` SETTINGS ${settings.map(([k, v]) => `${k} = ${literal(v)}`).join(', ')}` : '';
      await session.queryAsync(`INSERT INTO ${table} SELECT * FROM file('${file}', 'RowBinary', ${literal(cols)})${s}`, { format: 'TabSeparated' });
      stats.inserts++;
      const tok = settings.find(([k]) => k === 'insert_deduplication_token');
      if (tok) stats.tokens.push(tok[1]);
    } finally {
      unlinkSync(file);
    }
    return Buffer.alloc(0);
  }
  if (/^\s*SELECT\s+'front-stats'/i.test(query)) return Buffer.from(JSON.stringify(stats));
  const fmt = /\bFORMAT\s+(\w+)\s*$/i.exec(query);
  const r = await session.queryAsync(fmt ? query.replace(/\bFORMAT\s+\w+\s*$/i, '') : query, { format: fmt ? fmt[1] : 'TabSeparated' });
  return Buffer.from(r.bytes());
}

createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const url = new URL(req.url, 'http://x');
    if (url.pathname === '/ping') return res.end('Ok.\n');
    const run = () => handle(url, Buffer.concat(chunks));
    const p = tail.then(run, run);
    tail = p.catch(() => undefined);
    p.then(
      (out) => res.writeHead(200, { 'X-ClickHouse-Summary': '{}' }).end(out),
      (err) => res.writeHead(500, { 'X-ClickHouse-Exception-Code': String(/Code: (\d+)/.exec(err.message)?.[1] ?? 1000) }).end(`${err.message}\n`),
    );
  });
}).listen(Number(port), '127.0.0.1', () => process.stdout.write('ready\n'));
