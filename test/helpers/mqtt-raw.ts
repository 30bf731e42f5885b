/** A raw MQTT 3.1.1 connection for protocol tests: write any bytes, collect the packets that come back. */
import { connect as netConnect, type Socket } from 'node:net';
import mqttPacket from 'mqtt-packet';
import { waitFor } from './ports.js';

export interface RawConn {
  s: Socket;
  got: Array<Record<string, unknown> & { cmd: string }>;
  closed: Promise<void>;
  isClosed(): boolean;
  send(p: Record<string, unknown>): void;
}

export function generate(p: Record<string, unknown>): Buffer {
  return mqttPacket.generate(p as never);
}

/** Opens a socket; with `connect`, sends CONNECT and waits for CONNACK. */
export async function rawConn(port: number, connect?: Record<string, unknown>, cleanups?: Array<() => Promise<unknown>>): Promise<RawConn> {
  const s = netConnect(port, '127.0.0.1');
  const got: RawConn['got'] = [];
  const parser = mqttPacket.parser({ protocolVersion: 4 });
  parser.on('packet', (p) => got.push(p as never));
  parser.on('error', () => undefined);
  s.on('data', (d) => parser.parse(d));
  s.on('error', () => undefined);
  let closedFlag = false;
  const closed = new Promise<void>((r) => s.once('close', () => ((closedFlag = true), r())));
  cleanups?.push(() => Promise.resolve(s.destroy()));
  const c: RawConn = { s, got, closed, isClosed: () => closedFlag, send: (p) => s.write(generate(p)) };
  if (connect) {
    c.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, keepalive: 60, clean: true, ...connect });
    await waitFor('CONNACK', () => got.some((p) => p.cmd === 'connack') || closedFlag, 5000, 10);
  }
  return c;
}

export const publishPacket = (topic: string, messageId: number, qos: 0 | 1 | 2, payload: string | Buffer = 'x', retain = false): Record<string, unknown> => ({
  cmd: 'publish',
  topic,
  payload,
  qos,
  messageId,
  retain,
  dup: false,
});
