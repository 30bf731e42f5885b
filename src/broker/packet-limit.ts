/**
 * mqtt-packet parses a packet of any size: it buffers the whole body before anyone can refuse it.
 * The limit is checked as soon as the remaining length is parsed, by wrapping the parser's
 * `_parseLength` (private to mqtt-packet 9; no public hook exists). This is the only place that
 * touches mqtt-packet's internals: `test/broker/packet-limit.test.ts` runs it against the real
 * parser and fails when they change.
 */

interface ParserInternals {
  _parseLength(): boolean;
  _emitError(e: Error): void;
  packet: { length: number };
}

/** Makes `parser` (an mqtt-packet Parser) emit an error, and stop, for a packet larger than `max` bytes. */
export function limitPacketSize(parser: unknown, max: number): void {
  const p = parser as Partial<ParserInternals> | undefined;
  if (typeof p?._parseLength !== 'function' || typeof p._emitError !== 'function') {
    throw new Error(
      'mqtt-packet changed: its parser has no _parseLength/_emitError, so limits.max_packet_size cannot be applied; pin mqtt-packet 9.0.x or update src/broker/packet-limit.ts',
    );
  }
  const parseLength = p._parseLength.bind(p);
  p._parseLength = function (this: ParserInternals) {
    const ok = parseLength();
    if (ok && this.packet.length > max) {
      this._emitError(new Error(`packet too large: ${this.packet.length} bytes (limits.max_packet_size ${max})`));
      return false;
    }
    return ok;
  };
}
