import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, TestGateway } from '../helpers/gateway.js';
import { tempDir } from '../helpers/journal.js';
import { sleep, waitFor } from '../helpers/ports.js';

describe('systemd notify protocol', () => {
  let receiver: ChildProcess | undefined;
  let g: TestGateway | undefined;
  afterAll(async () => {
    await g?.stop();
    receiver?.kill();
  });

  it('sends READY once listening, WATCHDOG while making progress, STOPPING on SIGTERM', async () => {
    const sock = join(tempDir('fg-notify-'), 'notify.sock');
    const lines: string[] = [];
    receiver = spawn('python3', [join(ROOT, 'test/helpers/notify-socket.py'), sock], { stdio: ['ignore', 'pipe', 'inherit'] });
    receiver.stdout!.on('data', (d: Buffer) => lines.push(...d.toString().split('\n').filter(Boolean)));
    await waitFor('the notify socket', () => lines.includes('listening'), 10_000, 20);

    g = await TestGateway.create({ env: { NOTIFY_SOCKET: sock, WATCHDOG_USEC: '600000' } });
    await g.start();
    await waitFor('READY=1', () => lines.some((l) => l.startsWith('READY=1')), 10_000, 20);
    const ready = lines.find((l) => l.startsWith('READY=1'))!;
    expect(ready).toBe(`READY=1|STATUS=listening on 127.0.0.1:${g.mqttPort}`);
    await sleep(1500);
    // Every third of 600 ms: about 7 in 1.5 s.
    expect(lines.filter((l) => l === 'WATCHDOG=1').length).toBeGreaterThanOrEqual(4);
    expect(lines.indexOf(ready)).toBeLessThan(lines.indexOf('WATCHDOG=1'));
    expect(await g.stop()).toBe(0);
    await waitFor('STOPPING=1', () => lines.includes('STOPPING=1'), 5_000, 20);
    expect(lines.slice(lines.indexOf('STOPPING=1') + 1).filter((l) => l === 'WATCHDOG=1')).toEqual([]);
  });
});
