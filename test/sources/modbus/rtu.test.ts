import { spawn, fork, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, TestGateway } from '../../helpers/gateway.js';
import { tempDir } from '../../helpers/journal.js';
import { freePort, waitFor } from '../../helpers/ports.js';

const procs: ChildProcess[] = [];
const cleanups: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
  for (const p of procs) p.kill('SIGKILL');
});

/** An RTU server (modbus-serial ServerSerial) on a serial device, in its own process. */
async function startRtuServer(path: string, unit: number): Promise<void> {
  const server = fork(join(ROOT, 'test/helpers/modbus-rtu-server.mjs'), [path, String(unit)], { stdio: 'ignore' });
  procs.push(server);
  await new Promise<void>((res, rej) => {
    server.once('message', () => res());
    server.once('exit', (c) => rej(new Error(`RTU server exited ${c}`)));
  });
}

describe('Modbus RTU over a pseudo-terminal pair (socat)', () => {
  it('polls an RTU server on a serial line', async () => {
    const dir = tempDir('fg-rtu-');
    const [a, b] = [join(dir, 'gw'), join(dir, 'dev')];
    const socat = spawn('socat', [`pty,raw,echo=0,link=${a}`, `pty,raw,echo=0,link=${b}`], { stdio: 'ignore' });
    procs.push(socat);
    await waitFor('the pty pair', () => existsSync(a) && existsSync(b), 10_000, 50);
    await startRtuServer(b, 7);
    const g = await TestGateway.create({
      yaml: `modbus:
  devices:
    - name: rtu7
      transport: { type: rtu, path: ${a}, baud: 19200, parity: even }
      unit_id: 7
      poll_interval: 300ms
      tags:
        - { name: counter, table: holding, address: 0 }
        - { name: r5, table: holding, address: 5 }
`,
    });
    cleanups.push(() => g.stop());
    await g.start();
    await waitFor(
      'RTU values',
      async () => Number(await g.query("SELECT count() FROM fieldgate.points WHERE device = 'rtu7' AND tag = 'counter' AND quality = 0")) >= 3,
      30_000,
      200,
    );
    expect(await g.query("SELECT argMax(value, ts), argMax(quality, ts) FROM fieldgate.points WHERE device = 'rtu7' AND tag = 'r5'")).toBe('57\t0');
  });

  it('polls RTU frames through a TCP serial server (rtu_over_tcp)', async () => {
    const dir = tempDir('fg-rtutcp-');
    const dev = join(dir, 'dev');
    const port = await freePort();
    // socat plays the serial-to-Ethernet gateway: a serial line on one side (opened first), TCP on the other.
    const socat = spawn('socat', [`pty,raw,echo=0,link=${dev}`, `TCP-LISTEN:${port},bind=127.0.0.1,reuseaddr`], { stdio: 'ignore' });
    procs.push(socat);
    await waitFor('the pty', () => existsSync(dev), 10_000, 50);
    await startRtuServer(dev, 3);
    const g = await TestGateway.create({
      yaml: `modbus:
  devices:
    - name: rtutcp3
      transport: { type: rtu_over_tcp, host: 127.0.0.1, port: ${port} }
      unit_id: 3
      poll_interval: 300ms
      tags:
        - { name: r4, table: holding, address: 4 }
`,
    });
    cleanups.push(() => g.stop());
    await g.start();
    await waitFor(
      'RTU-over-TCP values',
      async () => (await g.query("SELECT argMax(value, ts), argMax(quality, ts) FROM fieldgate.points WHERE device = 'rtutcp3' AND tag = 'r4'")) === '43\t0',
      30_000,
      200,
    );
  });
});
