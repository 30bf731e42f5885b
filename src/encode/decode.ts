/**
 * Decodes a chunk of journal records into rows. Runs on worker threads only.
 * Decoding is a pure function of the chunk and the routes: "now" is each
 * record's receive time, so a replay produces the same rows (and the same
 * deduplicated insert).
 */
import { BIRTH_FIXED, RecordKind, readMqtt, readPoint, walkVerified, type MqttView, type PointView } from '../core/records.js';
import { decodeBirth, decodePayload, parseTopic, type BirthMetric, type SpPayload } from '../core/sparkplug.js';
import type { MqttConfig, RouteConfig } from './config.js';
import type { TableRows } from '../core/ports.js';

export type { TableRows };
import { Quality } from '../core/quality.js';
import { PointsEncoder } from './points.js';
import { compileExpander, compileTemplate, matchTemplate, type Expander, type Template } from './topics.js';
import { POINT_KEYS, PointFields, plainDecimal, scanJsonPoints } from './json-points.js';
import { encodeColumn, jsonPath, parseColumnType, type ColumnType } from './columns.js';
import { RowBinaryWriter } from './rowbinary.js';

export type RejectReason =
  | 'no_route'
  | 'empty'
  | 'not_a_number'
  | 'not_finite'
  | 'out_of_range'
  | 'bad_json'
  | 'bad_value'
  | 'bad_quality'
  | 'no_tag'
  | 'bad_record'
  | 'bad_sparkplug'
  | 'sparkplug_alias'
  | 'sparkplug_unsupported'
  | 'column'
  /** A journal frame whose CRC does not match (a damaged sector): its bytes are skipped to the next intact frame. */
  | 'corrupt';

export type TsReason = 'missing' | 'invalid' | 'out_of_range';

export interface ChunkResult {
  tables: TableRows[];
  records: number;
  rejects: Partial<Record<RejectReason, number>>;
  samples: Partial<Record<RejectReason, string>>;
  tsReplaced: Partial<Record<TsReason, number>>;
  firstReceived: number;
  lastReceived: number;
  /** Where each record starts in the chunk, for dead letters. */
  recordStarts: Uint32Array;
  /** Records whose values do not fit their custom table's columns: they go to the dead letters with the reason. */
  letters: Array<{ record: number; table: string; reason: string }>;
}

/** Which points rows to write: device, tag, source. */
export type RowFilter = (device: string, tag: string, source: string) => boolean;

/** Column types of the custom tables, as the sink read them from system.columns: table → column → type. */
export type TableSchemas = Record<string, Record<string, string>>;

/** Rows of one custom table, in one writer (as the points table). */
class CustomRows {
  readonly w = new RowBinaryWriter(64 * 1024);
  rows = 0;
  private readonly starts: number[] = [];
  private readonly origin: number[] = [];

  /** Opens a row; returns where it starts, to rewind to when a value does not fit. */
  begin(): number {
    return this.w.len;
  }

  commit(start: number, record: number): void {
    this.starts.push(start);
    this.origin.push(record);
    this.rows++;
  }

  finish(table: string): TableRows {
    return { table, data: this.w.take(), rows: this.rows, rowStarts: Uint32Array.from(this.starts), rowRecords: Uint32Array.from(this.origin) };
  }
}

/** A topic's route and what it expands to. */
interface Routed {
  route: CompiledRoute;
  device: string;
  tag: string;
}

/** Topics whose route a decoder remembers; past it, it starts again (a plant has far fewer). */
const MAX_ROUTED_TOPICS = 10_000;

interface CompiledRoute {
  t: Template;
  format: RouteConfig['format'];
  table: string | undefined;
  columns: RouteConfig['columns'];
  device: Expander;
  tag: Expander;
  /** Capture names this route sets (cleared before the next match). */
  names: string[];
  /** The rows' source column: mqtt, or partner:<name> for what a partner sent. */
  source: string;
}

const BIG_DIGITS = /\d{16}/;
const BIG_MARK = '\u0000int:';

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/**
 * Marks integer literals of 16+ digits outside strings as strings (`"\u0000int:<digits>"`), so
 * JSON.parse keeps their exact text. One pass over the text: linear in its length whatever it
 * holds (a regex over strings and numbers went quadratic on an unterminated string of escapes).
 */
export function markBigIntegers(text: string): string {
  const n = text.length;
  let out = '';
  let last = 0;
  let i = 0;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 34) {
      // A string: skip it, escapes included; an unterminated one runs to the end.
      i++;
      while (i < n) {
        const d = text.charCodeAt(i);
        if (d === 92) i += 2;
        else if (d === 34) break;
        else i++;
      }
      i++;
      continue;
    }
    if (isDigit(c) || (c === 45 && isDigit(text.charCodeAt(i + 1)))) {
      let j = c === 45 ? i + 1 : i;
      const from = j;
      while (j < n && isDigit(text.charCodeAt(j))) j++;
      const next = text.charCodeAt(j);
      const fraction = next === 46 || next === 101 || next === 69; // . e E
      if (!fraction && j - from >= 16) {
        out += `${text.slice(last, i)}"\\u0000int:${text.slice(i, j)}"`;
        last = j;
      }
      // Skip the rest of the number (fraction, exponent) so its digits are not read again.
      while (j < n) {
        const d = text.charCodeAt(j);
        if (isDigit(d) || d === 46 || d === 101 || d === 69 || d === 43 || d === 45) j++;
        else break;
      }
      i = j;
      continue;
    }
    i++;
  }
  return last === 0 ? text : out + text.slice(last);
}
const NUMBER_TEXT = /^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$/;
const INTEGER_TEXT = /^[-+]?\d+$/;
const RFC3339 = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})$/i;
const INT64_MIN = -(2n ** 63n);
const UINT64_MAX = 2n ** 64n - 1n;

export class ChunkDecoder {
  private readonly routes: CompiledRoute[];
  private readonly points = new PointsEncoder();
  private readonly caps: Record<string, string> = {};
  private readonly routed = new Map<string, Routed | null>();
  private readonly mv = {} as MqttView;
  private readonly pv = {} as PointView;
  private readonly fields = new PointFields();
  private rejects: Partial<Record<RejectReason, number>> = {};
  private samples: Partial<Record<RejectReason, string>> = {};
  private tsReplaced: Partial<Record<TsReason, number>> = {};
  private record = 0;
  private recv = 0;
  private topic = '';
  private body: Buffer = Buffer.alloc(0);
  private bodyStart = 0;
  private bodyEnd = 0;
  private device = '';
  private source = 'mqtt';
  private keep: RowFilter | undefined;
  /**
   * Points rows of this chunk so far, kept or not. With `ordinals`, a row's record slot holds this
   * ordinal instead: a value's place in its chunk, whatever a share selects (stable message ids).
   */
  private ordinal = 0;
  private ordinals = false;
  /** Sparkplug alias tables of this chunk, from its Birth records (so a replay decodes the same). */
  private births = new Map<string, { aliases: Map<number, BirthMetric>; metrics: BirthMetric[] }>();

  constructor(private readonly cfg: MqttConfig) {
    this.routes = (cfg.routes as RouteConfig[]).map((r) => {
      const t = compileTemplate(r.topic);
      return {
        t,
        format: r.format,
        table: r.table,
        columns: r.columns,
        device: compileExpander(r.device),
        tag: compileExpander(r.tag),
        names: t.names,
        source: r.source ?? 'mqtt',
      };
    });
    // Every capture name exists from the start, so the object keeps one shape.
    for (const r of this.routes) for (const n of r.names) this.caps[n] = '';
  }

  private schemas: TableSchemas = {};
  private readonly types = new Map<string, ColumnType | string>();
  private custom = new Map<string, CustomRows>();
  private letters: ChunkResult['letters'] = [];

  /**
   * `keep`: only rows it accepts are written (a partner's share reads a chunk for the few values it
   * selects; a large payload nobody shares is then never copied into a row; a sink with `select`
   * stores only what it names). `ordinals`: a row's record slot holds its place among the chunk's
   * values (a share's stable ids) instead of its record. `gateway`: the gateway_id column's value.
   */
  decode(chunk: Buffer, schemas: TableSchemas = {}, o: { keep?: RowFilter; ordinals?: boolean; gateway?: string } = {}): ChunkResult {
    this.keep = o.keep;
    this.ordinals = o.ordinals === true;
    this.points.setGateway(o.gateway);
    this.ordinal = 0;
    this.schemas = schemas;
    this.custom = new Map();
    this.letters = [];
    this.rejects = {};
    this.samples = {};
    this.tsReplaced = {};
    this.record = 0;
    this.births.clear();
    let first = Infinity;
    let last = -Infinity;
    let starts = new Uint32Array(256);
    // Every frame's CRC is checked here too: bytes read back from the card may have rotted since
    // recovery scanned them, and a damaged length must not send the walk into another record.
    walkVerified(
      chunk,
      0,
      chunk.length,
      (kind, s, e, fs) => {
        if (kind === RecordKind.Cut) return;
        if (this.record === starts.length) {
          const n = new Uint32Array(starts.length * 2);
          n.set(starts);
          starts = n;
        }
        starts[this.record] = fs;
        try {
          if (kind === RecordKind.Mqtt) {
            readMqtt(chunk, s, e, this.mv, false);
            this.recv = this.mv.receivedMs;
            this.mqtt(chunk);
          } else if (kind === RecordKind.Birth) {
            this.recv = chunk.readDoubleLE(s);
            const b = decodeBirth(chunk, s + BIRTH_FIXED, e);
            const aliases = new Map<number, BirthMetric>();
            for (const m of b.metrics) if (m[0] !== null) aliases.set(m[0], m);
            this.births.set(b.node, { aliases, metrics: b.metrics });
          } else if (kind === RecordKind.Point) {
            readPoint(chunk, s, e, this.pv);
            this.recv = this.pv.receivedMs;
            const p = this.pv;
            const n = this.ordinal++;
            if (!this.keep || this.keep(p.device, p.tag, 'poll'))
              this.points.row(p.ts, p.device, p.tag, p.value, p.text, p.quality, 'poll', this.ordinals ? n : this.record);
          } else {
            this.reject('bad_record', `record kind ${kind}`);
          }
        } catch (err) {
          this.reject('bad_record', String(err));
        }
        if (this.recv < first) first = this.recv;
        if (this.recv > last) last = this.recv;
        this.record++;
      },
      (from, to) => this.reject('corrupt', `${to - from} damaged bytes at offset ${from} of the chunk`),
    );
    const pts = this.points.finish();
    const tables: TableRows[] = pts.rows > 0 ? [{ table: 'points', ...pts }] : [];
    for (const [name, rows] of this.custom) if (rows.rows > 0) tables.push(rows.finish(name));
    return {
      tables,
      letters: this.letters,
      records: this.record,
      rejects: this.rejects,
      samples: this.samples,
      tsReplaced: this.tsReplaced,
      firstReceived: first,
      lastReceived: last,
      recordStarts: starts.slice(0, this.record),
    };
  }

  /**
   * The first route a topic matches, with its device and tag; null when none does. A device
   * publishes to the same few topics over and over, so the answer is kept per topic (routes never
   * change in a decoder's life), except for a route into a custom table: its columns read the
   * captures, which only a fresh match sets.
   */
  private routeOf(topic: string): Routed | null {
    const known = this.routed.get(topic);
    if (known !== undefined) return known;
    let found: Routed | null = null;
    for (const r of this.routes) {
      for (const n of r.names) this.caps[n] = '';
      if (!matchTemplate(r.t, topic, this.caps)) continue;
      found = { route: r, device: r.device(this.caps), tag: r.tag(this.caps) };
      if (r.table !== undefined) return found;
      break;
    }
    if (this.routed.size >= MAX_ROUTED_TOPICS) this.routed.clear();
    this.routed.set(topic, found);
    return found;
  }

  private mqtt(chunk: Buffer): void {
    const m = this.mv;
    this.topic = m.topic;
    this.body = chunk;
    this.bodyStart = m.bodyStart;
    this.bodyEnd = m.bodyEnd;
    const routed = this.routeOf(m.topic);
    if (routed !== null) {
      const r = routed.route;
      const tag = routed.tag;
      this.device = routed.device;
      this.source = r.source;
      if (r.table !== undefined) this.customRow(r);
      else if (r.format === 'sparkplug') this.sparkplug();
      else if (r.format === 'number') this.number(tag);
      else if (r.format === 'json') this.json(tag);
      else this.emitText(this.recv, tag, chunk.toString('utf8', m.bodyStart, m.bodyEnd), Quality.Good);
      return;
    }
    if (this.cfg.unmatched === 'raw') {
      this.device = 'unrouted';
      this.source = 'mqtt';
      this.emitText(this.recv, m.topic, chunk.toString('utf8', m.bodyStart, m.bodyEnd), Quality.Good);
    } else this.reject('no_route', '');
  }

  private number(tag: string): void {
    if (!tag) return this.reject('no_tag', 'the route gives no tag');
    const v = plainDecimal(this.body, this.bodyStart, this.bodyEnd);
    if (v !== undefined) return this.emit(this.ts(undefined), tag, v, '', Quality.Good);
    const text = this.body.toString('utf8', this.bodyStart, this.bodyEnd).trim();
    if (text.length === 0) return this.reject('empty', '');
    if (text === 'true' || text === 'false') return this.emit(this.ts(undefined), tag, text === 'true' ? 1 : 0, '', Quality.Good);
    if (!NUMBER_TEXT.test(text)) return this.reject('not_a_number', '');
    this.emitNumberText(tag, text, this.ts(undefined), Quality.Good);
  }

  private emitNumberText(tag: string, text: string, ts: number, quality: number): void {
    if (INTEGER_TEXT.test(text) && text.replace(/^[-+]?0*/, '').length >= 16) {
      const big = BigInt(text);
      if (big < INT64_MIN || big > UINT64_MAX) return this.reject('out_of_range', '');
      const exact = big.toString();
      const v = Number(big);
      return this.emit(ts, tag, v, Number.isSafeInteger(v) ? '' : exact, quality);
    }
    const v = Number(text);
    if (!Number.isFinite(v)) return this.reject('not_finite', '');
    this.emit(ts, tag, v, '', quality);
  }

  private json(tag: string): void {
    let text = this.body.toString('utf8', this.bodyStart, this.bodyEnd);
    if (text.trim().length === 0) return this.reject('empty', '');
    // Points, or an array of them: read without building an object per point.
    const f = this.fields;
    if (scanJsonPoints(text, f)) {
      for (let k = 0; k < f.n; k++) this.point(tag, f.tag[k], f.value[k], f.ts[k], f.quality[k], f.text[k]);
      return;
    }
    // JSON.parse rounds integers past 2^53; mark such literals so their exact text survives.
    if (BIG_DIGITS.test(text)) text = markBigIntegers(text);
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch {
      return this.reject('bad_json', '');
    }
    if (Array.isArray(v)) {
      for (const item of v) this.jsonItem(item, tag);
    } else this.jsonItem(v, tag);
  }

  private jsonItem(v: unknown, prefix: string): void {
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      const o = v as Record<string, unknown>;
      if (isPointObject(o)) return this.jsonPoint(o, prefix);
      for (const k of Object.keys(o)) this.jsonTag(o[k], join(prefix, k));
      return;
    }
    if (Array.isArray(v)) return this.reject('bad_value', 'nested array at the top level');
    this.jsonValue(v, prefix, this.ts(undefined), Quality.Good);
  }

  private jsonTag(v: unknown, tag: string): void {
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) this.jsonTag(v[i], `${tag}[${i}]`);
      return;
    }
    if (v !== null && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      if (isPointObject(o)) return this.jsonPoint(o, tag);
      for (const k of Object.keys(o)) this.jsonTag(o[k], join(tag, k));
      return;
    }
    this.jsonValue(v, tag, this.ts(undefined), Quality.Good);
  }

  private jsonPoint(o: Record<string, unknown>, prefix: string): void {
    this.point(prefix, o.tag, o.value, o.ts, o.quality, o.text);
  }

  /** A point object's fields, read by JSON.parse or by the scanner of json-points.ts. */
  private point(prefix: string, tagField: unknown, value: unknown, ts: unknown, qualityField: unknown, text: unknown): void {
    const tag = typeof tagField === 'string' ? join(prefix, tagField) : prefix;
    const q = quality(qualityField);
    if (q === undefined) return this.reject('bad_quality', '');
    // A shared text value comes as value null with its text.
    this.jsonValue(value === null && typeof text === 'string' ? text : value, tag, this.ts(ts), q);
  }

  private jsonValue(v: unknown, tag: string, ts: number, q: number): void {
    if (!tag) return this.reject('no_tag', 'a bare value without a tag from the route');
    switch (typeof v) {
      case 'number':
        if (!Number.isFinite(v)) return this.reject('not_finite', '');
        return this.emit(ts, tag, v, '', q);
      case 'boolean':
        return this.emit(ts, tag, v ? 1 : 0, '', q);
      case 'string':
        if (v.startsWith(BIG_MARK)) return this.emitNumberText(tag, v.slice(BIG_MARK.length), ts, q);
        return this.emit(ts, tag, Number.NaN, v, q);
      default:
        return this.reject('bad_value', `${v === null ? 'null' : typeof v} value`);
    }
  }

  /** A custom table: one row per message, each configured column filled and encoded by the table's own type. */
  private customRow(r: CompiledRoute): void {
    const table = r.table!;
    const schema = this.schemas[table];
    if (!schema) return this.letter(table, `table ${table} was not found in ClickHouse`);
    const text = () => this.body.toString('utf8', this.bodyStart, this.bodyEnd);
    let parsed: unknown;
    if (r.format === 'json' && r.columns.some((c) => c.json !== undefined)) {
      try {
        parsed = JSON.parse(text());
      } catch {
        return this.reject('bad_json', '');
      }
    }
    let rows = this.custom.get(table);
    if (!rows) this.custom.set(table, (rows = new CustomRows()));
    const start = rows.begin();
    const fail = (reason: string) => {
      rows.w.len = start;
      this.letter(table, reason);
    };
    for (const c of r.columns) {
      const key = `${table}.${c.name}`;
      let type = this.types.get(key);
      if (type === undefined) {
        type = schema[c.name] === undefined ? `column ${c.name} is not in table ${table}` : parseColumnType(schema[c.name]);
        this.types.set(key, type);
      }
      if (typeof type === 'string') return fail(type);
      let v: unknown;
      if (c.topic !== undefined) v = this.caps[c.topic];
      else if (c.json !== undefined) v = jsonPath(parsed, c.json);
      else if (c.received) v = this.recv;
      else if (c.const !== undefined) v = c.const;
      else if (c.payload) v = r.format === 'number' ? Number(text().trim()) : text();
      const err = encodeColumn(type, v, rows.w);
      if (err) return fail(`column ${c.name}: ${err}`);
    }
    rows.commit(start, this.record);
  }

  private letter(table: string, reason: string): void {
    this.letters.push({ record: this.record, table, reason });
    this.reject('column', reason);
  }

  /** Sparkplug B: births and data become rows by metric name (aliases from this chunk's Birth records), deaths one bad row per known metric. */
  private sparkplug(): void {
    const t = parseTopic(this.topic);
    // The host's STATE and commands are not plant values; anything else that is not a Sparkplug
    // topic is a malformed one, counted (it used to vanish unseen).
    if (!t) {
      if (!this.topic.startsWith('spBv1.0/STATE/')) this.reject('bad_sparkplug', `not a Sparkplug B topic: ${this.topic.slice(0, 200)}`);
      return;
    }
    if (t.type === 'NCMD' || t.type === 'DCMD') return;
    let p: SpPayload;
    try {
      p = decodePayload(this.body.subarray(this.bodyStart, this.bodyEnd));
    } catch (err) {
      return this.reject('bad_sparkplug', String(err));
    }
    const node = this.births.get(t.node);
    if (t.type === 'NDEATH' || t.type === 'DDEATH') {
      const ts = this.ts(p.timestamp);
      for (const m of node?.metrics ?? []) {
        if (t.type === 'DDEATH' && m[3] !== t.device) continue;
        this.device = m[3] ? `${t.node}/${m[3]}` : t.node;
        this.emit(ts, m[1], Number.NaN, '', Quality.Bad);
      }
      return;
    }
    this.device = t.device ? `${t.node}/${t.device}` : t.node;
    for (const m of p.metrics) {
      const name = m.name ?? (m.alias !== undefined ? node?.aliases.get(m.alias)?.[1] : undefined);
      if (!name) {
        this.reject('sparkplug_alias', `alias ${String(m.alias)} of ${t.node} has no birth`);
        continue;
      }
      if (m.unsupported) {
        this.reject('sparkplug_unsupported', `metric ${name}`);
        continue;
      }
      this.emit(this.ts(m.timestamp ?? p.timestamp), name, m.value, m.text, m.isNull ? Quality.Uncertain : Quality.Good);
    }
  }

  /** Resolves a value's timestamp against its receive time; counts what it replaces. */
  private ts(raw: unknown): number {
    let t: number;
    if (raw === undefined) {
      this.tsReplaced.missing = (this.tsReplaced.missing ?? 0) + 1;
      return this.recv;
    }
    if (typeof raw === 'number' && Number.isFinite(raw)) t = raw;
    else if (typeof raw === 'string' && RFC3339.test(raw)) t = Date.parse(raw);
    else t = Number.NaN;
    if (Number.isNaN(t)) {
      this.tsReplaced.invalid = (this.tsReplaced.invalid ?? 0) + 1;
      return this.recv;
    }
    if (t < this.recv - this.cfg.max_past || t > this.recv + this.cfg.max_future) {
      this.tsReplaced.out_of_range = (this.tsReplaced.out_of_range ?? 0) + 1;
      return this.recv;
    }
    return Math.round(t);
  }

  private emit(ts: number, tag: string, value: number, text: string, q: number): void {
    const n = this.ordinal++;
    if (!this.keep || this.keep(this.device, tag, this.source))
      this.points.row(ts, this.device, tag, value, text, q, this.source, this.ordinals ? n : this.record);
  }

  private emitText(ts: number, tag: string, text: string, q: number): void {
    const n = this.ordinal++;
    if (!this.keep || this.keep(this.device, tag, this.source))
      this.points.row(ts, this.device, tag, Number.NaN, text, q, this.source, this.ordinals ? n : this.record);
  }

  private reject(reason: RejectReason, detail: string): void {
    this.rejects[reason] = (this.rejects[reason] ?? 0) + 1;
    if (this.samples[reason] === undefined) {
      const body = this.body.subarray(this.bodyStart, Math.min(this.bodyEnd, this.bodyStart + 96));
      const printable = body.toString('utf8').replace(/[^\x20-\x7e]/g, '.');
      this.samples[reason] =
        `topic=${JSON.stringify(this.topic)} payload=${JSON.stringify(printable)}${this.bodyEnd - this.bodyStart > 96 ? '…' : ''}${detail ? ` (${detail})` : ''}`;
    }
  }
}

function join(prefix: string, key: string): string {
  return prefix ? `${prefix}/${key}` : key;
}

function isPointObject(o: Record<string, unknown>): boolean {
  if (!('value' in o)) return false;
  for (const k in o) if (!POINT_KEYS.has(k)) return false;
  return true;
}

/** OPC UA StatusCode, or good/bad/uncertain. */
function quality(q: unknown): number | undefined {
  if (q === undefined) return Quality.Good;
  if (typeof q === 'number') return Number.isInteger(q) && q >= 0 && q <= 0xffffffff ? q : undefined;
  if (typeof q === 'string') {
    const s = q.toLowerCase();
    if (s === 'good') return Quality.Good;
    if (s === 'bad') return Quality.Bad;
    if (s === 'uncertain') return Quality.Uncertain;
  }
  return undefined;
}
