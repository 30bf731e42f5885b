/** One gateway for a whole test file: started before its tests, stopped after them, its MQTT clients closed first. */
import { connectAsync, type IClientOptions, type MqttClient } from 'mqtt';
import { afterAll, beforeAll } from 'vitest';
import { TestGateway, type GatewayOptions } from './gateway.js';

export interface GatewaySuite {
  /** The gateway (once beforeAll has run). */
  readonly g: TestGateway;
  /** Run after the file's tests, the last added first, before the gateway stops. */
  readonly cleanups: Array<() => Promise<unknown>>;
  /** An MQTT 3.1.1 client of the gateway's broker (no reconnects), closed after the file's tests. */
  client: (o?: IClientOptions) => Promise<MqttClient>;
}

/** Call at the top of a test file. */
export function gatewaySuite(opts: GatewayOptions = {}): GatewaySuite {
  let gw: TestGateway | undefined;
  const cleanups: Array<() => Promise<unknown>> = [];
  beforeAll(async () => {
    gw = await TestGateway.create(opts);
    await gw.start();
  });
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
    await gw?.stop();
  });
  const suite: GatewaySuite = {
    get g() {
      if (!gw) throw new Error('the gateway starts in beforeAll');
      return gw;
    },
    cleanups,
    client: async (o = {}) => {
      const c = await connectAsync(`mqtt://127.0.0.1:${suite.g.mqttPort}`, { reconnectPeriod: 0, protocolVersion: 4, ...o });
      cleanups.push(() => c.endAsync(true));
      return c;
    },
  };
  return suite;
}
