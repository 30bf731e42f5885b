/**
 * A small filesystem (a 64 MiB tmpfs mounted by the test; CI runs as root) as
 * state_dir: below the watermark the journal stops growing (on_full: block
 * withholds PUBACKs) and the embedded store pauses; with room again both
 * resume, nothing is lost, and a restart finds the journal intact.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RawPublisher } from '../../bench/lib/raw-mqtt.mjs';
import { TestGateway } from '../helpers/gateway.js';
import { tempDir } from '../helpers/journal.js';
import { sleep, waitFor } from '../helpers/ports.js';

const MiB = 1024 * 1024;

function freeBytes(dir: string): number {
  const s = statfsSync(dir);
  return s.bavail * s.bsize;
}

function unmount(dir: string): void {
  try {
    execFileSync('umount', [dir]);
  } catch {
    // not mounted
  }
}

/** A tmpfs of `size` at `dir` (needs root, as in CI). */
function mountTmpfs(dir: string, size: string): void {
  unmount(dir);
  mkdirSync(dir, { recursive: true });
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir]);
}

describe('a small disk', () => {
  const mnt = join(tempDir('fg-disk-'), 'mnt');
  let g: TestGateway | undefined;
  afterAll(async () => {
    await g?.stop();
    unmount(mnt);
  });

  it('pauses the journal and the store below the watermark, resumes by itself, corrupts nothing', async () => {
    mountTmpfs(mnt, '64m');
    g = await TestGateway.create({
      stateDir: join(mnt, 'state'),
      yaml: 'journal: { min_free_bytes: 16MiB, segment_bytes: 256KiB, max_bytes: 1GiB, on_full: block }',
    });
    await g.start();
    await g.drained();
    const free = (): number => freeBytes(mnt);
    // Leave about 22 MiB: above the watermark, but not for long.
    const filler = join(mnt, 'filler');
    writeFileSync(filler, Buffer.alloc(Math.max(0, free() - 22 * MiB)));

    const acked = new Set<number>();
    const pub = new RawPublisher({ port: g.mqttPort, clientId: 'disk', qos: 1, inflight: 100, onAck: (t) => acked.add(t) });
    await pub.connect();
    const body = 'x'.repeat(1000);
    let seq = 0;
    let stop = false;
    const load = (async () => {
      while (!stop) {
        await pub.room();
        if (stop) break;
        pub.publish(`json/disk`, `{"seq":${seq},"pad":"${body}"}`, seq++);
        if (seq % 100 === 0) await sleep(1);
      }
    })();
    const gw = g;
    await waitFor('the low-disk state', async () => (await gw.metric('fieldgate_disk_low')) === 1, 60_000, 100);
    await sleep(1500);
    const during = { acked: acked.size, ready: await gw.readyz(), blocked: await gw.metric('fieldgate_journal_blocked') };
    await sleep(1500);
    expect(acked.size).toBe(during.acked); // no PUBACK while the disk is low
    expect(during.ready.status).toBe(503);
    expect((during.ready.body as unknown as { disk: { low: boolean } }).disk.low).toBe(true);
    expect(during.blocked).toBe(1);
    expect(free()).toBeGreaterThan(4 * MiB); // stopped before the filesystem filled up
    expect(gw.alive).toBe(true);
    expect(gw.logs).toContain('disk: free space below the watermark');

    rmSync(filler);
    await waitFor('acceptance to resume', async () => (await gw.metric('fieldgate_disk_low')) === 0 && acked.size > during.acked, 30_000, 100);
    stop = true;
    await load;
    while (pub.pending.size > 0) await sleep(10);
    pub.close();
    await gw.drained(60_000);
    expect(await gw.query("SELECT count(), uniqExact(value) FROM fieldgate.points WHERE device = 'disk' AND tag = 'seq'")).toBe(`${acked.size}\t${acked.size}`);
    expect(acked.size).toBe(seq);
    console.log(
      `disk-full test: held at ${during.acked} PUBACKs with ${(free() / MiB).toFixed(1)} MiB free after resuming; ${acked.size} messages stored once`,
    );

    // A clean restart finds every segment intact.
    expect(await gw.stop()).toBe(0);
    gw.logs = '';
    await gw.start();
    const recovered = JSON.parse(gw.logs.split('\n').find((l) => l.includes('journal: recovered'))!) as { truncatedBytes: number };
    expect(recovered.truncatedBytes).toBe(0);
    expect(gw.logs).not.toContain('corrupt');
  });

  it('a card that fills up for real (no watermark): ENOSPC withholds PUBACKs, nothing acknowledged is lost, the restart finds no hole', async () => {
    await g?.stop();
    mountTmpfs(mnt, '48m');
    g = await TestGateway.create({ stateDir: join(mnt, 'state'), yaml: 'journal: { min_free_bytes: 0, segment_bytes: 4MiB, max_bytes: 1GiB }' });
    await g.start();
    await g.drained();
    const filler = join(mnt, 'filler');
    writeFileSync(filler, Buffer.alloc(Math.max(0, freeBytes(mnt) - 1 * MiB)));
    const acked = new Set<number>();
    const pub = new RawPublisher({ port: g.mqttPort, clientId: 'enospc', qos: 1, inflight: 200, onAck: (t) => acked.add(t) });
    await pub.connect();
    const gw = g;
    let seq = 0;
    const load = (async () => {
      for (; seq < 30_000; seq++) {
        await pub.room();
        pub.publish('plant/enospc/seq', String(seq), seq);
      }
    })();
    await waitFor('a journal write to fail with ENOSPC', async () => (await gw.metric('fieldgate_journal_write_errors_total')) > 0, 60_000, 100);
    const held = acked.size;
    await sleep(1000);
    expect(acked.size - held).toBeLessThan(400); // at most what was in flight when the card filled
    expect(gw.alive).toBe(true);
    rmSync(filler);
    await load;
    while (pub.pending.size > 0) await sleep(10);
    pub.close();
    expect(acked.size).toBe(30_000);
    await gw.drained(120_000);
    expect(await gw.query("SELECT count(), uniqExact(value) FROM fieldgate.points WHERE device = 'enospc'")).toBe('30000\t30000');
    expect(await gw.stop()).toBe(0);
    gw.logs = '';
    await gw.start();
    const recovered = JSON.parse(gw.logs.split('\n').find((l) => l.includes('journal: recovered'))!) as { truncatedBytes: number; damagedBytes: number };
    expect(recovered.truncatedBytes + recovered.damagedBytes).toBe(0);
    // The cursor fits the journal: new values are stored after the restart.
    const pub2 = new RawPublisher({ port: gw.mqttPort, clientId: 'enospc2', qos: 1 });
    await pub2.connect();
    for (let i = 0; i < 1000; i++) pub2.publish('plant/enospc/seq', String(30_000 + i), i);
    while (pub2.pending.size > 0) await sleep(10);
    pub2.close();
    await gw.drained();
    expect(await gw.query("SELECT count(), uniqExact(value) FROM fieldgate.points WHERE device = 'enospc'")).toBe('31000\t31000');
    console.log(`disk-full test: ENOSPC held PUBACKs at ${held}; 30,000 acknowledged and stored once after room came back`);
  });

  it('refuses to start when the filesystem is smaller than the watermark (it would wait forever)', async () => {
    await g?.stop();
    const small = await TestGateway.create({ stateDir: join(mnt, 'state2'), yaml: 'journal: { min_free_bytes: 1GiB }' });
    await expect(small.start()).rejects.toThrow(/gateway exited 3/);
    expect(small.logs).toMatch(/journal.min_free_bytes: \d+ bytes is more than the whole filesystem of state_dir/);
  });
});
