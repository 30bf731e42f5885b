/**
 * A value's quality: an OPC UA status code (uint32), whatever the source —
 * Modbus, OPC UA, MQTT payloads and Sparkplug all write the same numbers, so
 * one query (quality = 0, or quality >= 0x80000000) means the same everywhere.
 */
export const Quality = {
  Good: 0,
  Uncertain: 0x40000000,
  Bad: 0x80000000,
  BadTimeout: 0x800a0000,
  BadNoCommunication: 0x80310000,
  BadNodeIdUnknown: 0x80340000,
} as const;

/** Severity Bad: the top bit of the status code. */
export function isBad(q: number): boolean {
  return q >= 0x80000000;
}
