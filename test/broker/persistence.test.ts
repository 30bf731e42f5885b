import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { connect, connectAsync, type IClientOptions } from 'mqtt';
import { describe, expect, it } from 'vitest';
import { TestGateway } from '../helpers/gateway.js';
import { sleep, waitFor } from '../helpers/ports.js';
import { cleanupsAfterAll } from '../helpers/cleanups.js';

const run = promisify(execFile);
const cleanups = cleanupsAfterAll();

describe('broker persistence (state_dir/broker)', () => {
  it('keeps retained messages and offline QoS 1 queues of persistent sessions across a restart', async () => {
    const g = await TestGateway.create();
    cleanups.push(() => g.stop());
    await g.start();
    const url = `mqtt://127.0.0.1:${g.mqttPort}`;
    const opts = (o: IClientOptions): IClientOptions => ({ reconnectPeriod: 0, protocolVersion: 4, ...o });

    // A persistent subscriber subscribes, then goes away.
    const sub = await connectAsync(url, opts({ clientId: 'dashboard', clean: false }));
    await sub.subscribeAsync('plant/#', { qos: 1 });
    await sub.endAsync();

    // While it is away: a retained status (mosquitto_pub) and three QoS 1 values (mqtt.js).
    await run('mosquitto_pub', ['-p', String(g.mqttPort), '-t', 'status/line1', '-m', 'running', '-r', '-q', '1']);
    const pub = await connectAsync(url, opts({ clientId: 'press1' }));
    for (const v of ['1', '2', '3']) await pub.publishAsync('plant/press1/count', v, { qos: 1 });
    await pub.endAsync();

    // Restart the gateway on the same state_dir.
    expect(await g.stop()).toBe(0);
    await g.start();
    // Counted from disk a second after start: one offline persistent session.
    await waitFor('the persisted session metric', async () => (await g.metric('fieldgate_broker_persisted_sessions')) === 1, 5000, 100);

    // The retained message is still there (mosquitto_sub, one message, 5 s at most).
    const retained = await run('mosquitto_sub', ['-p', String(g.mqttPort), '-t', 'status/#', '-C', '1', '-W', '5', '-v']);
    expect(retained.stdout.trim()).toBe('status/line1 running');

    // The persistent session comes back with its subscription and the three queued messages.
    // The handler is attached before CONNACK: the queued messages may arrive in the same read as the
    // CONNACK, and mqtt.js emits them before an awaited connectAsync resumes (they were missed so).
    const got: string[] = [];
    const back = connect(url, opts({ clientId: 'dashboard', clean: false }));
    cleanups.push(() => back.endAsync(true));
    back.on('message', (_t, m) => got.push(m.toString()));
    await new Promise<void>((res, rej) => {
      back.once('connect', () => res());
      back.once('error', rej);
    });
    await waitFor('the queued messages', () => got.length >= 3, 10_000, 50);
    await sleep(300);
    expect(got).toEqual(['1', '2', '3']);
    // And the subscription itself survived: a new publish arrives without subscribing again.
    const pub2 = await connectAsync(url, opts({ clientId: 'press1b' }));
    cleanups.push(() => pub2.endAsync(true));
    await pub2.publishAsync('plant/press1/count', '4', { qos: 1 });
    await waitFor('a live message', () => got.includes('4'), 5000, 50);
    await waitFor('retained count', async () => (await g.metric('fieldgate_broker_retained_messages')) === 1, 5000, 100);
  });
});
