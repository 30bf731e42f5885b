/**
 * The query door's guard: what a user may run through the gateway (`POST /query`, `fieldgate
 * query`). One read-only statement, no file or network access, no settings of its own. The checks
 * run on the text with comments removed and literals blanked (a quote inside a comment or a `;`
 * inside a string cannot hide anything); the embedded store checks again the statement as its own
 * parser normalised it (formatQuerySingleLine) and runs exactly that text, with readonly = 1 as the
 * statement's last SETTINGS (chDB applies a statement's settings in order: the last one wins).
 */
import { TransportError } from './transport.js';

/** The text with comments removed and every string literal and quoted name blanked, as parsed by a small lexer. */
export function bareSql(sql: string): string {
  let out = '';
  let i = 0;
  const n = sql.length;
  while (i < n) {
    const c = sql[i];
    const d = sql[i + 1];
    if (c === '-' && d === '-') {
      while (i < n && sql[i] !== '\n') i++;
      out += ' ';
    } else if (c === '#' && (d === ' ' || d === '!')) {
      while (i < n && sql[i] !== '\n') i++;
      out += ' ';
    } else if (c === '/' && d === '*') {
      // ClickHouse nests block comments.
      let depth = 1;
      i += 2;
      while (i < n && depth > 0) {
        if (sql[i] === '/' && sql[i + 1] === '*') {
          depth++;
          i += 2;
        } else if (sql[i] === '*' && sql[i + 1] === '/') {
          depth--;
          i += 2;
        } else i++;
      }
      if (depth > 0) throw new TransportError('an unterminated /* comment', 400);
      out += ' ';
    } else if (c === '$' && /^\$[A-Za-z0-9_]*\$/.test(sql.slice(i, i + 66))) {
      // A heredoc string ($$…$$ or $tag$…$tag$): blanked like any literal, quotes inside included.
      const tag = /^\$[A-Za-z0-9_]*\$/.exec(sql.slice(i, i + 66))![0];
      const close = sql.indexOf(tag, i + tag.length);
      if (close < 0) throw new TransportError('an unterminated $$ string', 400);
      i = close + tag.length;
      out += "''";
    } else if (c === "'" || c === '"' || c === '`') {
      i++;
      for (;;) {
        if (i >= n) throw new TransportError(`an unterminated ${c === "'" ? 'string' : 'quoted name'}`, 400);
        if (sql[i] === '\\') i += 2;
        else if (sql[i] === c && sql[i + 1] === c) i += 2;
        else if (sql[i] === c) break;
        else i++;
      }
      i++;
      out += c === "'" ? "''" : '_q_';
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

const READ_ONLY_START = /^\s*(SELECT|WITH|SHOW|DESCRIBE|DESC|EXISTS|EXPLAIN)\b/i;
/** Table functions that reach outside the store (files, the network, other servers, programs). */
const OUTSIDE =
  /\b(file|fileCluster|url|urlCluster|remote|remoteSecure|cluster|clusterAllReplicas|input|s3|s3Cluster|gcs|oss|cosn|azureBlobStorage|azureBlobStorageCluster|hdfs|hdfsCluster|mysql|postgresql|mongodb|redis|sqlite|jdbc|odbc|executable|iceberg|icebergS3|deltaLake|hudi|paimon|dictionary|loop|merge)\s*\(/i;

/** Throws a 400 unless `sql` is one read-only statement with no settings, format or output file of its own. */
export function checkReadOnly(sql: string): string {
  const s = sql.trim().replace(/;\s*$/, '');
  const bare = bareSql(s);
  if (/;/.test(bare)) throw new TransportError('one statement at a time', 400);
  if (!READ_ONLY_START.test(bare)) throw new TransportError('only SELECT, WITH, SHOW, DESCRIBE, EXISTS and EXPLAIN run through the gateway', 400);
  if (/\bINTO\s+OUTFILE\b/i.test(bare)) throw new TransportError('INTO OUTFILE is refused: queries through the gateway write no files', 400);
  if (/\bSETTINGS\b/i.test(bare)) throw new TransportError('a SETTINGS clause is refused: the gateway sets read-only mode and the limits itself', 400);
  if (/\bFORMAT\b/i.test(bare)) throw new TransportError('a FORMAT clause is refused: choose the format with ?format= (or --format)', 400);
  const out = OUTSIDE.exec(bare);
  if (out) throw new TransportError(`the table function ${out[1]}() is refused: queries read the store only`, 400);
  return s;
}

/** Output formats a query may ask for: text and common data formats, none that reads a template or schema file. */
export const QUERY_FORMATS = new Set([
  'TabSeparated',
  'TabSeparatedRaw',
  'TabSeparatedWithNames',
  'TabSeparatedWithNamesAndTypes',
  'TSV',
  'TSVRaw',
  'TSVWithNames',
  'TSVWithNamesAndTypes',
  'CSV',
  'CSVWithNames',
  'CSVWithNamesAndTypes',
  'JSON',
  'JSONCompact',
  'JSONEachRow',
  'JSONCompactEachRow',
  'JSONStrings',
  'JSONCompactStrings',
  'JSONStringsEachRow',
  'JSONCompactEachRowWithNames',
  'JSONCompactEachRowWithNamesAndTypes',
  'NDJSON',
  'Pretty',
  'PrettyCompact',
  'PrettySpace',
  'Vertical',
  'Values',
  'Markdown',
  'RowBinary',
  'RowBinaryWithNames',
  'RowBinaryWithNamesAndTypes',
  'Native',
  'Null',
]);

/**
 * A trailing `FORMAT name` taken off a statement (ClickHouse's HTTP clients write it into the SQL):
 * the statement without it, and the name. Comments and literals cannot hide or fake it.
 */
export function splitFormat(sql: string): { sql: string; format: string | undefined } {
  const s = sql.trim().replace(/;\s*$/, '');
  const m = /\bFORMAT\s+([A-Za-z][A-Za-z0-9]*)\s*$/i.exec(bareSql(s));
  if (!m) return { sql: s, format: undefined };
  // bareSql keeps positions only up to comments; cut on the original text, at the same keyword from the end.
  const at = s.search(new RegExp(`\\bFORMAT\\s+${m[1]}\\s*$`, 'i'));
  return at < 0 ? { sql: s, format: undefined } : { sql: s.slice(0, at).trim(), format: m[1] };
}

export function checkFormat(format: string): string {
  if (!QUERY_FORMATS.has(format))
    throw new TransportError(`format ${JSON.stringify(format).slice(0, 60)} is not offered; expected one of ${[...QUERY_FORMATS].join(', ')}`, 400);
  return format;
}
