/**
 * A partner that takes HTTPS: a server in this process answers 500, 429 and 200 in turn (and 400
 * to one batch). Every batch arrives; an Idempotency-Key repeats only when its batch is sent again
 * after a non-2xx answer, with the same body; the refused batch goes to the dead letters.
 */
import { createHmac } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { connectAsync } from 'mqtt';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanupsAfterAll } from '../helpers/cleanups.js';
import { TestGateway } from '../helpers/gateway.js';
import { tempDir } from '../helpers/journal.js';
import { makeCertificates } from '../helpers/mosquitto.js';
import { waitFor } from '../helpers/ports.js';

const cleanups = cleanupsAfterAll();

describe('partners: webhook', () => {
  let g: TestGateway | undefined;
  afterAll(async () => {
    await g?.stop();
  });

  it('retries 5xx and 429 with the same Idempotency-Key, advances on 2xx, dead-letters a 400', async () => {
    const dir = tempDir('fg-hook-');
    makeCertificates(dir, []);
    writeFileSync(join(dir, 'token'), 's3cret-token\n');
    writeFileSync(join(dir, 'hmac'), 'hmac-key\n');
    const answers = [500, 429, 200];
    let n = 0;
    const calls: Array<{ key: string; status: number; body: string }> = [];
    const values = new Map<number, number>();
    const problems: string[] = [];
    const server = createServer({ cert: readFileSync(join(dir, 'server.pem')), key: readFileSync(join(dir, 'server.key')) }, (req, res) => {
      const parts: Buffer[] = [];
      req.on('data', (c: Buffer) => parts.push(c));
      req.on('end', () => {
        const body = Buffer.concat(parts).toString();
        const key = String(req.headers['idempotency-key']);
        if (req.headers.authorization !== 'Bearer s3cret-token') problems.push(`authorization ${req.headers.authorization}`);
        const sig = `sha256=${createHmac('sha256', 'hmac-key').update(body).digest('hex')}`;
        if (req.headers['x-fieldgate-signature'] !== sig) problems.push('signature');
        const j = JSON.parse(body) as { batch: string; partner: string; messages: Array<{ value: number; topic: string; id: string }> };
        if (j.batch !== key) problems.push(`batch ${j.batch} under key ${key}`);
        let status = answers[n++ % answers.length];
        if (j.messages.some((m) => m.value === 77)) status = 400;
        calls.push({ key, status, body });
        if (status === 200) for (const m of j.messages) values.set(m.value, (values.get(m.value) ?? 0) + 1);
        res.writeHead(status, status === 429 ? { 'retry-after': '0' } : {});
        res.end(status === 400 ? '{"error":"value 77 is not acceptable"}' : 'ok');
      });
    });
    await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
    cleanups.push(() => new Promise((res) => server.close(res)));
    const port = (server.address() as AddressInfo).port;

    g = await TestGateway.create({
      batchMaxDelay: '50ms',
      yaml: [
        'partners:',
        '  - name: platform',
        `    webhook: { url: "https://127.0.0.1:${port}/ingest", ca_file: ${join(dir, 'ca.pem')}, bearer_token_file: ${join(dir, 'token')}, hmac_secret_file: ${join(dir, 'hmac')}, batch_max: 40 }`,
        '    send: [ { select: { device: "m1" }, topic: "suppliers/acme/{device}/{tag}" } ]',
        '    retry_initial: 20ms',
        '    retry_max: 200ms',
        '    from: earliest',
      ].join('\n'),
    });
    await g.start();
    const c = await connectAsync(`mqtt://127.0.0.1:${g.mqttPort}`, { protocolVersion: 4 });
    cleanups.push(() => c.endAsync(true));
    for (let i = 0; i < 400; i++) await c.publishAsync(`plant/m1/v${i % 7}`, String(i), { qos: 1 });
    await c.publishAsync('plant/m2/secret', '9999', { qos: 1 });

    // A 400 refuses its whole batch: those values are the dead letters; every other one arrives.
    const refused = () =>
      new Set(
        calls.filter((x) => x.status === 400).flatMap((x) => (JSON.parse(x.body) as { messages: Array<{ value: number }> }).messages.map((m) => m.value)),
      );
    await waitFor('every value at the webhook', () => [...Array(400).keys()].every((i) => values.has(i) || refused().has(i)), 60_000, 100);
    expect(refused().has(77)).toBe(true);
    expect(values.size + refused().size).toBe(400);
    expect(problems).toEqual([]);
    expect(
      [...values.values()].every((k) => k === 1),
      'a value accepted twice',
    ).toBe(true);
    expect(values.has(9999)).toBe(false);
    // Per key: non-2xx answers, then one 2xx (or the 400 that ends it); the body never changes.
    const byKey = new Map<string, typeof calls>();
    for (const x of calls) byKey.set(x.key, [...(byKey.get(x.key) ?? []), x]);
    for (const [key, xs] of byKey) {
      const last = xs[xs.length - 1];
      expect(last.status === 200 || last.status === 400, `${key} ends with ${last.status}`).toBe(true);
      expect(
        xs.slice(0, -1).every((x) => x.status === 500 || x.status === 429),
        `${key}: ${xs.map((x) => x.status).join(',')}`,
      ).toBe(true);
      expect(new Set(xs.map((x) => x.body)).size).toBe(1);
    }
    expect(calls.filter((x) => x.status !== 200 && x.status !== 400).length).toBeGreaterThan(3);

    // The refused batch is in the dead letters with the partner's answer.
    const dl = join(g.stateDir, 'deadletter', 'partners', 'platform.jsonl');
    await waitFor('the dead letters', () => existsSync(dl), 10_000, 100);
    const letters = readFileSync(dl, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { reason: string; message: { value: number } });
    expect(letters.map((l) => l.message.value).sort((x, y) => x - y)).toEqual([...refused()].sort((x, y) => x - y));
    expect(letters[0].reason).toContain('HTTP 400');
    expect(letters[0].reason).toContain('value 77 is not acceptable');
    expect(await g.metric('fieldgate_partner_dead_letter_messages_total{partner="platform"}')).toBe(letters.length);
    expect(await g.metric('fieldgate_partner_errors_total{partner="platform",reason="http_5xx"}')).toBeGreaterThan(0);
    expect(await g.metric('fieldgate_partner_errors_total{partner="platform",reason="http_429"}')).toBeGreaterThan(0);

    // The audit file says per hour what left, per device and tag (written at shutdown at the latest).
    await g.stop();
    const audit = readFileSync(join(g.stateDir, 'audit', 'platform.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { direction: string; device: string; tag: string; count: number });
    const sent = audit.filter((a) => a.direction === 'sent');
    expect(sent.map((a) => a.tag).sort()).toEqual(['v0', 'v1', 'v2', 'v3', 'v4', 'v5', 'v6']);
    expect(sent.reduce((s, a) => s + a.count, 0)).toBe(400 - letters.length);
    expect(audit.some((a) => a.device === 'm2')).toBe(false);
  }, 120_000);
});
