/**
 * What a partner receives, per send entry: documented JSON, OPC UA Part 14 PubSub JSON, or
 * Sparkplug B metrics (the MQTT target wraps those in births and DDATA, see target-mqtt.ts).
 * Pure: a chunk's values (and the open intervals) in, messages out; ids come from journal
 * positions, so a replay produces the same ids and the partner can drop what it already has.
 */
import type { OutMetric } from '../core/sparkplug.js';
import type { Aggregate, SendEntry } from './config.js';
import { aggregateOf, type Window } from './window.js';

/** A message for an MQTT topic (json, opcua-json) or, for a webhook, one item of a batch. */
export interface TopicMessage {
  kind: 'topic';
  topic: string;
  /** The JSON object (webhooks put it in a batch; MQTT sends its text). */
  body: Record<string, unknown>;
  qos: 0 | 1;
  id: string;
  device: string;
  tag: string;
  ts: number;
}

/** Sparkplug metrics of one device, sent as one DDATA. */
export interface SparkplugMessage {
  kind: 'sparkplug';
  device: string;
  metrics: OutMetric[];
  qos: 0 | 1;
  id: string;
}

export type OutMessage = TopicMessage | SparkplugMessage;

/** A value to send: one value as it came, or an interval of values. */
export interface Item {
  /** Stable id: `<chunk>:<seq>` of a value, or `w<from>` of an interval (the caller prefixes gateway, journal and entry). */
  id: string;
  device: string;
  tag: string;
  ts: number;
  value: number;
  text: string;
  quality: number;
  window?: Window;
}

/** Device and tag names as one topic level each side of the template: + and # become _, so a name never widens a filter. */
function level(s: string): string {
  return s.replace(/[+#]/g, '_').replaceAll('\u0000', '');
}

export function fillTopic(template: string, f: { gateway: string; partner: string; device: string; tag: string }): string {
  return template.replace(/\{(gateway|partner|device|tag)\}/g, (_m, k: keyof typeof f) => level(f[k]));
}

const iso = (ms: number) => (Number.isFinite(ms) ? new Date(ms).toISOString() : null);
const numOrNull = (v: number) => (Number.isFinite(v) ? v : null);

/** The json format (documented in docs/chain.md). */
export function jsonBody(gateway: string, it: Item, aggregates: readonly Aggregate[]): Record<string, unknown> {
  const o: Record<string, unknown> = { id: it.id, gateway, device: it.device, tag: it.tag, ts: iso(it.ts) };
  const w = it.window;
  if (w) {
    o.from = iso(w.from);
    o.to = iso(w.to);
  }
  if (w && aggregates.length) {
    for (const a of aggregates) o[a] = numOrNull(aggregateOf(w, a));
  } else {
    o.value = numOrNull(it.value);
    if (it.text) o.text = it.text;
  }
  o.quality = it.quality;
  return o;
}

/**
 * OPC UA Part 14 (PubSub) JSON, non-reversible encoding: a NetworkMessage with one
 * DataSetMessage whose fields are DataValues; aggregates are fields named <tag>:<aggregate>.
 */
export function opcuaJsonBody(gateway: string, writerId: number, it: Item, aggregates: readonly Aggregate[]): Record<string, unknown> {
  const dv = (value: number, text: string): Record<string, unknown> => {
    const v: Record<string, unknown> = { Value: text && !Number.isFinite(value) ? text : numOrNull(value), SourceTimestamp: iso(it.ts) };
    if (it.quality !== 0) v.StatusCode = { Code: it.quality };
    return v;
  };
  const payload: Record<string, unknown> = {};
  if (it.window && aggregates.length) for (const a of aggregates) payload[`${it.tag}:${a}`] = dv(aggregateOf(it.window, a), '');
  else payload[it.tag] = dv(it.value, it.text);
  return {
    MessageId: it.id,
    MessageType: 'ua-data',
    PublisherId: gateway,
    Messages: [{ DataSetWriterId: writerId, DataSetWriterName: it.device, Timestamp: iso(it.ts), Status: it.quality, Payload: payload }],
  };
}

export interface FormatContext {
  gateway: string;
  partner: string;
  /** `<gateway>:<journal id>`: with an item's id it names the message for good. */
  idPrefix: string;
}

/** Turns one entry's items (in journal order) into messages. */
export function formatItems(ctx: FormatContext, entryIndex: number, e: SendEntry, items: readonly Item[], out: OutMessage[]): void {
  const idOf = (it: Item) => `${ctx.idPrefix}:${entryIndex}:${it.id}`;
  if (e.format === 'sparkplug') {
    // One DDATA per device and chunk; an aggregate (at most one) replaces the value.
    const byDevice = new Map<string, SparkplugMessage>();
    for (const it of items) {
      let m = byDevice.get(it.device);
      if (!m) {
        m = { kind: 'sparkplug', device: it.device, metrics: [], qos: e.qos as 0 | 1, id: idOf(it) };
        byDevice.set(it.device, m);
        out.push(m);
      }
      const agg = it.window && e.aggregate[0];
      m.metrics.push({ name: it.tag, timestamp: it.ts, value: agg ? aggregateOf(it.window!, agg) : it.value, text: agg ? '' : it.text });
    }
    return;
  }
  for (const it of items) {
    const body =
      e.format === 'opcua-json'
        ? opcuaJsonBody(ctx.gateway, entryIndex + 1, { ...it, id: idOf(it) }, e.aggregate)
        : jsonBody(ctx.gateway, { ...it, id: idOf(it) }, e.aggregate);
    out.push({
      kind: 'topic',
      topic: fillTopic(e.topic, { gateway: ctx.gateway, partner: ctx.partner, device: it.device, tag: it.tag }),
      body,
      qos: e.qos as 0 | 1,
      id: idOf(it),
      device: it.device,
      tag: it.tag,
      ts: it.ts,
    });
  }
}
