/**
 * mqtt-packet's parser calls `debug` 10–15 times per PUBLISH (its `debug` is the npm package).
 * Switched off, each call still builds its rest-arguments array and reads the `enabled` getter:
 * under a flood of single values that was 5 % of the main thread's samples plus the garbage, and
 * the gateway spent 5–25 % more CPU per stored message with it (three interleaved pairs of 8 s
 * QoS 1 runs, whole process: 8.8/6.8/6.0 µs against 6.3/5.1/5.7; docs/architecture.md).
 *
 * So the `debug` that mqtt-packet (and mqtt.js, which resolves the same copy) loads hands out an empty
 * function for a namespace that `DEBUG` does not enable when it is created; one it enables gets
 * the real thing. The one difference: `debug.enable()` called at run time cannot switch on the
 * instances made before it. Set `DEBUG=mqtt-packet:*` (or any other namespace) in the environment
 * instead. This module must load before mqtt-packet: cli/main.ts imports it first, broker.ts
 * before aedes.
 */
import { createRequire } from 'node:module';

interface DebugInstance {
  (...args: unknown[]): void;
  enabled: boolean;
  namespace: string;
  extend(ns: string, delimiter?: string): DebugInstance;
  log?: unknown;
  destroy(): boolean;
}
type CreateDebug = ((ns: string) => DebugInstance) & Record<string, unknown>;

const QUIET = Symbol.for('fieldgate.quiet-debug');

function quiet(real: CreateDebug): CreateDebug {
  const create = (ns: string): DebugInstance => {
    const d = real(ns);
    if (d.enabled) return d;
    const off = (() => {}) as DebugInstance;
    off.enabled = false;
    off.namespace = ns;
    off.extend = (sub: string, delimiter = ':') => create(ns + delimiter + sub);
    off.destroy = () => false;
    return off;
  };
  // The module's own API (enable, disable, enabled, formatters, …) stays reachable on the wrapper.
  return Object.assign(create, real, { [QUIET]: true });
}

/** Replaces the `debug` module that mqtt-packet resolves, in the require cache; true when it did. */
export function quietDebug(): boolean {
  try {
    const fromPacket = createRequire(createRequire(import.meta.url).resolve('mqtt-packet'));
    const path = fromPacket.resolve('debug');
    fromPacket('debug');
    const cached = fromPacket.cache[path];
    if (!cached || typeof cached.exports !== 'function') return false;
    if (!(cached.exports as Record<symbol, unknown>)[QUIET]) cached.exports = quiet(cached.exports as CreateDebug);
    return true;
  } catch {
    return false;
  }
}

quietDebug();
