/**
 * ClickHouse's HTTP interface in front of the embedded store (http.clickhouse_bind), read by the
 * real @clickhouse/client (JSON formats and RowBinary), by the requests Grafana's ClickHouse
 * plugins send (Altinity: POST SQL ending in FORMAT JSON; clickhouse-go: its handshake query in
 * Native), with users (X-ClickHouse-User/Key and basic auth), gzip, and the read-only guard.
 */
import { createClient } from '@clickhouse/client';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { RawPublisher } from '../../bench/lib/raw-mqtt.mjs';
import { BIN, TestGateway } from '../helpers/gateway.js';
import { freePort, waitFor } from '../helpers/ports.js';
import { cleanupsAfterAll } from '../helpers/cleanups.js';

const cleanups = cleanupsAfterAll();

/** Reads a ClickHouse LEB128 unsigned integer. */
function varint(b: Buffer, at: { i: number }): number {
  let n = 0;
  let shift = 0;
  for (;;) {
    const x = b[at.i++];
    n += (x & 0x7f) * 2 ** shift;
    if (x < 0x80) return n;
    shift += 7;
  }
}
function str(b: Buffer, at: { i: number }): string {
  const n = varint(b, at);
  const s = b.subarray(at.i, at.i + n).toString('utf8');
  at.i += n;
  return s;
}

describe('ClickHouse HTTP reads from the embedded store', () => {
  it('answers @clickhouse/client, the Grafana plugins’ requests, users and gzip; refuses writes', async () => {
    const port = await freePort();
    const hash = execFileSync(process.execPath, [BIN, 'passwd'], { input: 'pw-1\n', encoding: 'utf8' }).trim();
    const g = await TestGateway.create({
      httpYaml: `clickhouse_bind: "127.0.0.1:${port}", users: [ { username: grafana, password_hash: "${hash}" } ]`,
      batchMaxDelay: '50ms',
    });
    cleanups.push(() => g.stop());
    await g.start();
    const pub = new RawPublisher({ port: g.mqttPort, clientId: 'chhttp', qos: 1, inflight: 50 });
    await pub.connect();
    for (let i = 0; i < 100; i++) {
      await pub.room();
      pub.publish(`plant/press${i % 2}/temp`, String(i));
    }
    while (pub.pending.size > 0) await new Promise((r) => setTimeout(r, 10));
    pub.close();
    await waitFor('rows stored', async () => (await g.query('SELECT count() FROM fieldgate.points')) === '100', 30_000, 100);

    const url = `http://127.0.0.1:${port}`;
    const client = createClient({ url, username: 'grafana', password: 'pw-1', compression: { response: true } });
    cleanups.push(() => client.close());
    expect((await client.ping()).success).toBe(true);
    const rs = await client.query({
      query: 'SELECT device, count() AS n, sum(value) AS s FROM fieldgate.points GROUP BY device ORDER BY device',
      format: 'JSONEachRow',
    });
    expect(await rs.json()).toEqual([
      { device: 'press0', n: 50, s: 2450 },
      { device: 'press1', n: 50, s: 2500 },
    ]);
    const j = await client.query({ query: 'SELECT count() AS n FROM fieldgate.points', format: 'JSON' });
    expect(((await j.json()) as { data: Array<{ n: number }> }).data).toEqual([{ n: 100 }]);
    // RowBinary: the bytes as ClickHouse writes them (UInt64 little-endian).
    const rb = await client.exec({ query: 'SELECT count() FROM fieldgate.points FORMAT RowBinary' });
    const chunks: Buffer[] = [];
    for await (const c of rb.stream as AsyncIterable<Buffer>) chunks.push(c);
    const raw = Buffer.concat(chunks);
    // The client asked for gzip and unpacked it.
    expect(rb.response_headers['content-encoding']).toBe('gzip');
    expect(raw.readBigUInt64LE(0)).toBe(100n);
    // A write through the client is refused by the guard, with ClickHouse's error text.
    await expect(client.command({ query: 'DROP TABLE fieldgate.points' })).rejects.toThrow(/only SELECT/);
    await expect(client.exec({ query: "INSERT INTO fieldgate.points (device) VALUES ('x')" })).rejects.toThrow(/only SELECT/);

    // Altinity's plugin: POST the SQL with FORMAT JSON, basic auth, gzip body.
    const basic = 'Basic ' + Buffer.from('grafana:pw-1').toString('base64');
    const alt = await fetch(`${url}/?enable_http_compression=1`, {
      method: 'POST',
      headers: { authorization: basic, 'content-encoding': 'gzip', 'accept-encoding': 'gzip' },
      body: gzipSync(
        "SELECT toStartOfMinute(toDateTime(ts)) AS t, avg(value) AS v FROM fieldgate.points WHERE device = 'press0' GROUP BY t ORDER BY t FORMAT JSON",
      ),
    });
    expect(alt.status).toBe(200);
    expect(alt.headers.get('x-clickhouse-format')).toBe('JSON');
    expect(alt.headers.get('x-clickhouse-server-version')).toMatch(/^\d+\.\d+/);
    const body = (await alt.json()) as { meta: Array<{ name: string }>; data: unknown[] };
    expect(body.meta.map((m) => m.name)).toEqual(['t', 'v']);
    expect(body.data.length).toBeGreaterThanOrEqual(1);

    // clickhouse-go's handshake in Native: one block of four columns, one row.
    const nat = await fetch(`${url}/?query=${encodeURIComponent('SELECT displayName(), version(), revision(), timezone() FORMAT Native')}`, {
      headers: { 'x-clickhouse-user': 'grafana', 'x-clickhouse-key': 'pw-1' },
    });
    expect(nat.status).toBe(200);
    const b = Buffer.from(await nat.arrayBuffer());
    const at = { i: 0 };
    expect([varint(b, at), varint(b, at)]).toEqual([4, 1]);
    expect(str(b, at)).toBe('displayName()');
    expect(str(b, at)).toBe('String');

    // Users: a wrong key is refused as ClickHouse refuses it.
    const bad = await fetch(`${url}/?query=SELECT%201`, { headers: { 'x-clickhouse-user': 'grafana', 'x-clickhouse-key': 'nope' } });
    expect(bad.status).toBe(401);
    expect(await bad.text()).toMatch(/^Code: 516\. DB::Exception: .*AUTHENTICATION_FAILED/);
    expect(bad.headers.get('x-clickhouse-exception-code')).toBe('516');
    const noUser = await fetch(`${url}/?query=SELECT%201`);
    expect(noUser.status).toBe(401);
    // The guard: settings and outside table functions are refused with a 400.
    const set = await fetch(`${url}/?query=${encodeURIComponent("SELECT * FROM file('/etc/passwd')")}`, { headers: { authorization: basic } });
    expect(set.status).toBe(400);
    expect(await set.text()).toMatch(/^Code: 164\. DB::Exception: the table function file\(\) is refused/);

    // Oversized bodies: a 3 MB query and a 3 MB query gzipped to a few KB (a small bomb) both get a
    // readable 413, never a reset; the body is drained before the answer, so the client's write
    // never fails first. Five times over: that race showed up one run in many.
    for (let i = 0; i < 5; i++) {
      const big = await fetch(url, { method: 'POST', headers: { authorization: basic }, body: 'SELECT 1 -- ' + 'x'.repeat(3 * 2 ** 20) });
      expect(big.status).toBe(413);
      expect(await big.text()).toMatch(/^Code: 1001\. DB::Exception: the query is larger than/);
    }
    const bomb = gzipSync('SELECT 1 -- ' + 'x'.repeat(3 * 2 ** 20));
    expect(bomb.length).toBeLessThan(2 ** 16);
    const zb = await fetch(url, { method: 'POST', headers: { authorization: basic, 'content-encoding': 'gzip' }, body: bomb });
    expect(zb.status).toBe(413);
    const notGzip = await fetch(url, { method: 'POST', headers: { authorization: basic, 'content-encoding': 'gzip' }, body: 'SELECT 1' });
    expect(notGzip.status).toBe(400);
    expect(await notGzip.text()).toMatch(/^Code: 354\. DB::Exception: cannot gunzip/);
  });
});
