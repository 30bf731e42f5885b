/**
 * The gateway (a real process, chDB) against faults that used to lose acknowledged values or kill
 * a loop quietly: a failing cursor write, a chunk that cannot be encoded, failing journal writes,
 * a reset journal, a second gateway on the same volume in another PID namespace. Faults are
 * injected through FIELDGATE_FAULTS (src/core/faults.ts); each case counts what is stored against
 * what was acknowledged, and checks that /readyz names the loop that stopped making progress.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { RawPublisher } from '../../bench/lib/raw-mqtt.mjs';
import { cleanupsAfterAll } from '../helpers/cleanups.js';
import { DropProxy } from '../helpers/drop-proxy.js';
import { BIN, TestGateway } from '../helpers/gateway.js';
import { tempDir } from '../helpers/journal.js';
import { sleep, waitFor } from '../helpers/ports.js';

const cleanups = cleanupsAfterAll();

async function gateway(o: { faults?: string; clickhouseYaml?: string; stateDir?: string } = {}): Promise<TestGateway> {
  const g = await TestGateway.create({
    ...(o.faults ? { env: { FIELDGATE_FAULTS: o.faults } } : {}),
    clickhouseYaml: o.clickhouseYaml ?? 'request_timeout: 2s',
    ...(o.stateDir ? { stateDir: o.stateDir } : {}),
  });
  cleanups.push(() => g.stop('SIGKILL'));
  await g.start();
  return g;
}

/** Publishes `n` QoS 1 values `device/v` = from..from+n-1; resolves with the acknowledged count. */
async function publish(g: TestGateway, device: string, from: number, n: number): Promise<number> {
  let acked = 0;
  const pub = new RawPublisher({ port: g.mqttPort, clientId: `p-${device}-${from}`, qos: 1, inflight: 100, onAck: () => acked++ });
  await pub.connect();
  for (let i = from; i < from + n; i++) {
    await pub.room();
    pub.publish(`plant/${device}/v`, String(i));
  }
  while (pub.pending.size > 0) await sleep(10);
  pub.close();
  return acked;
}

function setFaults(file: string, plan: object): void {
  writeFileSync(file, JSON.stringify(plan));
}

describe('faults at the journal and the sink', () => {
  it('a failing cursor write stalls the sink visibly, is retried, and loses nothing', async () => {
    const faults = join(tempDir('fg-f-'), 'faults.json');
    setFaults(faults, {});
    const g = await gateway({ faults });
    expect(await publish(g, 'cur', 0, 500)).toBe(500);
    await g.drained();
    setFaults(faults, { cursor_write: { action: 'enospc' } });
    await sleep(300);
    expect(await publish(g, 'cur', 500, 500)).toBe(500);
    // request_timeout 2s, retry_max 1s: the sink loop counts as stalled after 10 s without progress.
    const stalled = await waitFor(
      '/readyz to name the sink loop',
      async () => {
        const r = await g.readyz();
        return r.status === 503 && r.body.stalled.find((s) => s.loop === 'sink:clickhouse');
      },
      30_000,
      250,
    );
    expect(stalled.detail).toMatch(/cursor write failing: ENOSPC/);
    expect(await g.metric('fieldgate_loop_stalled{loop="sink:clickhouse"}')).toBe(1);
    expect(g.logs).toContain('journal: cursor write failed; retrying with backoff');
    setFaults(faults, {});
    await g.drained();
    expect((await g.readyz()).status).toBe(200);
    expect(await g.query("SELECT count(), uniqExact(value) FROM fieldgate.points WHERE device = 'cur'")).toBe('1000\t1000');
    expect(g.logs).not.toContain('sink loop ended');
  });

  it('a chunk that keeps failing to encode goes to the dead letters; the chunks behind it are stored', async () => {
    const faults = join(tempDir('fg-f-'), 'faults.json');
    setFaults(faults, { encode: { action: 'eio', count: 5 } });
    const g = await gateway({ faults });
    expect(await publish(g, 'enc', 0, 100)).toBe(100);
    await g.waitForLog('the dead letters', 'pipeline: a chunk could not be encoded', 30_000, 200);
    expect(await publish(g, 'enc', 100, 100)).toBe(100);
    await g.drained();
    const dir = join(g.stateDir, 'deadletter');
    const letters = readdirSync(dir)
      .filter((f) => f.endsWith('.jsonl'))
      .flatMap((f) => readFileSync(join(dir, f), 'utf8').trim().split('\n'))
      .map((l) => JSON.parse(l) as { topic: string; payload: string; reason: string });
    const stored = Number(await g.query("SELECT count() FROM fieldgate.points WHERE device = 'enc'"));
    // Every acknowledged value is either stored or a dead letter with the reason, once.
    expect(stored + letters.length).toBe(200);
    expect(letters.length).toBeGreaterThan(0);
    expect(letters[0].reason).toMatch(/encoding failed: EIO: injected fault, encode \(5 attempts\)/);
    expect(new Set([...letters.map((l) => Number(l.payload))]).size).toBe(letters.length);
  });

  it('journal writes that fail withhold PUBACKs, /readyz names the commit loop, and all of it lands afterwards', async () => {
    const faults = join(tempDir('fg-f-'), 'faults.json');
    setFaults(faults, {});
    const g = await gateway({ faults });
    setFaults(faults, { journal_write: { action: 'eio' } });
    await sleep(300);
    let acked = 0;
    const pub = new RawPublisher({ port: g.mqttPort, clientId: 'jw', qos: 1, inflight: 100, onAck: () => acked++ });
    await pub.connect();
    for (let i = 0; i < 100; i++) pub.publish('plant/jw/v', String(i));
    const r = await waitFor(
      '/readyz to name the commit loop',
      async () => {
        const x = await g.readyz();
        return x.status === 503 && x.body.stalled.some((s) => s.loop === 'journal:commit') && x;
      },
      30_000,
      250,
    );
    expect(r.body.ready).toBe(false);
    expect(acked).toBe(0); // nothing durable, nothing acknowledged
    setFaults(faults, {});
    while (pub.pending.size > 0) await sleep(10);
    pub.close();
    expect(acked).toBe(100);
    await g.drained();
    expect(await g.query("SELECT count(), uniqExact(value) FROM fieldgate.points WHERE device = 'jw'")).toBe('100\t100');
  });

  it('a reset journal (journal/ and cursors/ moved aside) stores new values; its tokens are new', async () => {
    const g = await gateway();
    expect(await publish(g, 'reset', 0, 1000)).toBe(1000);
    await g.drained();
    expect(await g.stop()).toBe(0);
    renameSync(join(g.stateDir, 'journal'), join(g.stateDir, 'journal.old'));
    renameSync(join(g.stateDir, 'cursors'), join(g.stateDir, 'cursors.old'));
    await g.start();
    expect(await publish(g, 'reset', 1000, 1000)).toBe(1000);
    await g.drained();
    expect(await g.query("SELECT count(), uniqExact(value) FROM fieldgate.points WHERE device = 'reset'")).toBe('2000\t2000');

    // Only journal/ reset, cursors/ kept: the start refuses, names the fix, and the fix works.
    expect(await g.stop()).toBe(0);
    renameSync(join(g.stateDir, 'journal'), join(g.stateDir, 'journal.old2'));
    await expect(g.start()).rejects.toThrow(/gateway exited 7/);
    expect(g.logs).toMatch(/belongs to journal [0-9a-f]+, but .* is journal [0-9a-f]+.*fieldgate journal check -c CONFIG --repair/);
    const check = execFileSync(process.execPath, [BIN, 'journal', 'check', '-c', g.config, '--repair'], { encoding: 'utf8' });
    expect(check).toMatch(/cursor clickhouse: .*other_journal/);
    expect(check).toContain('repaired: cursor clickhouse now starts at this journal');
    g.logs = '';
    await g.start();
    expect(await publish(g, 'reset', 2000, 100)).toBe(100);
    await g.drained();
    expect(await g.query("SELECT count(), uniqExact(value) FROM fieldgate.points WHERE device = 'reset'")).toBe('2100\t2100');
  });

  it('a cursor past the journal end refuses the start; --repair goes on without skipping new values', async () => {
    const g = await gateway();
    expect(await publish(g, 'past', 0, 300)).toBe(300);
    await g.drained();
    expect(await g.stop()).toBe(0);
    const file = join(g.stateDir, 'cursors', 'clickhouse.json');
    const c = JSON.parse(readFileSync(file, 'utf8')) as { position: number };
    writeFileSync(file, JSON.stringify({ ...c, position: c.position * 10 }));
    await expect(g.start()).rejects.toThrow(/gateway exited 7/);
    expect(g.logs).toContain("past the journal's end");
    let out = '';
    try {
      execFileSync(process.execPath, [BIN, 'journal', 'check', '-c', g.config], { encoding: 'utf8' });
    } catch (err) {
      out = (err as { stdout: string; status: number }).stdout;
      expect((err as { status: number }).status).toBe(7);
    }
    expect(out).toMatch(/cursor clickhouse: position \d+ .*past_end/);
    expect(out).toContain('a start would:');
    execFileSync(process.execPath, [BIN, 'journal', 'check', '-c', g.config, '--repair'], { encoding: 'utf8' });
    g.logs = '';
    await g.start();
    expect(await publish(g, 'past', 300, 300)).toBe(300);
    await g.drained();
    expect(await g.query("SELECT count(), uniqExact(value) FROM fieldgate.points WHERE device = 'past'")).toBe('600\t600');
  });
});

describe('a store whose connections drop (Debian clickhouse-server 18.16 behind a dropping proxy)', () => {
  it('delivers every acknowledged value at least once (the server has no tokens) and the sink never dies', async () => {
    const target = new URL(inject('clickhouseUrl'));
    const proxy = await DropProxy.create({ host: target.hostname, port: Number(target.port) });
    cleanups.push(() => proxy.close());
    const g = await TestGateway.create({ clickhouse: { url: proxy.url, database: 'fg_drops' }, clickhouseYaml: 'request_timeout: 3s' });
    cleanups.push(() => g.stop('SIGKILL'));
    await g.start();
    await g.drained();
    proxy.dropProbability = 0.4;
    // Rounds of values until the proxy has cut at least 5 requests (bounded: 40 rounds).
    let acked = 0;
    let sent = 0;
    for (let k = 0; k < 40 && (k < 10 || proxy.drops < 5); k++) {
      acked += await publish(g, 'drops', sent, 250);
      sent += 250;
      await sleep(200);
    }
    proxy.dropProbability = 0;
    await g.drained(90_000);
    const [count, uniq] = (await g.query("SELECT count(), uniqExact(value) FROM fg_drops.points WHERE device = 'drops'")).split('\t').map(Number);
    expect(acked).toBe(sent);
    expect(uniq).toBe(sent); // every acknowledged value arrived
    expect(proxy.drops).toBeGreaterThanOrEqual(5);
    console.log(
      `drop proxy: ${proxy.drops} of ${proxy.connections} connections cut; ${count} rows for ${sent} values (${count - sent} duplicates, at least once without tokens)`,
    );
    expect((await g.readyz()).body.stalled).toEqual([]);
  });
});

describe('a table that vanishes at runtime', () => {
  it('is re-created at once, then only after a backoff (no tight DDL loop); rows arrive once it is back', async () => {
    const server = inject('clickhouseUrl');
    const ddl = (q: string): Promise<Response> => fetch(server, { method: 'POST', body: q });
    await ddl('CREATE DATABASE IF NOT EXISTS fg_vanish');
    await ddl('DROP TABLE IF EXISTS fg_vanish.status');
    await ddl('CREATE TABLE fg_vanish.status (machine String, v Float64) ENGINE = MergeTree ORDER BY machine');
    const g = await TestGateway.create({
      clickhouse: { url: server, database: 'fg_vanish' },
      routes: ['{ topic: "status/{machine}", format: json, table: status, columns: [ { name: machine, topic: machine }, { name: v, json: v } ] }'],
    });
    cleanups.push(() => g.stop('SIGKILL'));
    await g.start();
    const pub = new RawPublisher({ port: g.mqttPort, clientId: 'vanish', qos: 1 });
    await pub.connect();
    pub.publish('status/m1', '{"v":1}', 1);
    await waitFor('the first row', async () => (await g.query('SELECT count() FROM fg_vanish.status')) === '1', 30_000, 100);
    await ddl('DROP TABLE fg_vanish.status');
    pub.publish('status/m2', '{"v":2}', 2);
    await g.waitForLog('the insert to fail', 'table missing; creating it again', 30_000, 50);
    await sleep(4000);
    const tries = g.logs.split('\n').filter((l) => l.includes('table missing; creating it again')).length;
    expect(tries).toBeLessThan(10); // a few over 4 s with retry_max 1s; it was a tight loop
    expect(g.alive).toBe(true);
    await ddl('CREATE TABLE fg_vanish.status (machine String, v Float64) ENGINE = MergeTree ORDER BY machine');
    await waitFor(
      'the row after the table is back',
      async () => (await g.query("SELECT count() FROM fg_vanish.status WHERE machine = 'm2'")) === '1',
      30_000,
      200,
    );
    pub.close();
    console.log(`vanishing table: ${tries} re-creation attempts in about 4 s`);
  });
});

describe('the state_dir lock', () => {
  it('holds across PID namespaces (two containers on one volume) and against simultaneous starts', async () => {
    const g = await gateway();
    // A second gateway in its own PID namespace, where it is pid 1 as in a container.
    const out = (() => {
      try {
        return {
          code: 0,
          text: execFileSync('unshare', ['-fp', '--mount-proc', process.execPath, BIN, 'run', '-c', g.config], {
            encoding: 'utf8',
            stdio: ['ignore', 'pipe', 'pipe'],
            timeout: 30_000,
          }),
        };
      } catch (err) {
        const e = err as { status: number; stderr: string };
        return { code: e.status, text: e.stderr };
      }
    })();
    expect(out.code).toBe(4);
    expect(out.text).toMatch(/is in use by fieldgate \(pid \d+ on /);
    expect(await publish(g, 'lock', 0, 500)).toBe(500);
    await g.drained();
    expect(await g.query("SELECT count() FROM fieldgate.points WHERE device = 'lock'")).toBe('500');
    expect(await g.stop()).toBe(0);

    // Five rounds of two simultaneous starts: exactly one runs each time.
    for (let round = 0; round < 5; round++) {
      const procs = [0, 1].map(() => spawn(process.execPath, [BIN, 'run', '-c', g.config], { stdio: ['ignore', 'pipe', 'pipe'] }));
      const codes = await Promise.all(
        procs.map(
          (p) =>
            new Promise<number | null>((res) => {
              const t = setTimeout(() => res(null), 8_000); // still running after 8 s: it holds the lock
              p.once('exit', (code) => {
                clearTimeout(t);
                res(code);
              });
            }),
        ),
      );
      expect(codes.filter((c) => c === 4).length).toBe(1);
      expect(codes.filter((c) => c === null).length).toBe(1);
      for (const p of procs) p.kill('SIGKILL');
      await Promise.all(procs.map((p) => (p.exitCode !== null || p.signalCode !== null ? Promise.resolve() : new Promise((res) => p.once('exit', res)))));
    }
    expect(existsSync(join(g.stateDir, 'LOCK'))).toBe(false);
  });
});
