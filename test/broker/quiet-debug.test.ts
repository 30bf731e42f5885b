/**
 * broker/quiet-debug.ts in the gateway as users run it (dist/cli/main.js): mqtt-packet's parser
 * gets empty debug functions unless DEBUG names it at start, and then still logs. Each case is a
 * fresh node process, so the require cache is as the bin leaves it.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/gateway.js';

const run = promisify(execFile);

// Loads what main.ts loads first, then parses one PUBLISH with mqtt-packet and reports what its debug module handed out.
const PROBE = `
await import(${JSON.stringify(join(ROOT, 'dist/broker/quiet-debug.js'))});
const { createRequire } = await import('node:module');
const req = createRequire(${JSON.stringify(join(ROOT, 'package.json'))});
const packetReq = createRequire(req.resolve('mqtt-packet'));
const mqtt = packetReq('mqtt-packet');
const parser = mqtt.parser({ protocolVersion: 4 });
let got;
parser.on('packet', (p) => (got = p.topic + '=' + p.payload));
parser.parse(mqtt.generate({ cmd: 'publish', topic: 'plant/a/b', payload: Buffer.from('1.5'), qos: 1, messageId: 7, retain: false, dup: false }));
const d = packetReq('debug')('mqtt-packet:parser');
console.log(JSON.stringify({ got, enabled: d.enabled, empty: d.toString().replace(/\\s/g, '') === '()=>{}' }));
`;

async function probe(env: Record<string, string>): Promise<{ out: { got: string; enabled: boolean; empty: boolean }; stderr: string }> {
  const { stdout, stderr } = await run(process.execPath, ['--input-type=module', '-e', PROBE], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', ...env },
  });
  return { out: JSON.parse(stdout.trim()) as { got: string; enabled: boolean; empty: boolean }, stderr };
}

describe('quiet debug for mqtt-packet', () => {
  it('hands the parser an empty function when DEBUG does not name it, and the packet still parses', async () => {
    const { out, stderr } = await probe({});
    expect(out).toEqual({ got: 'plant/a/b=1.5', enabled: false, empty: true });
    expect(stderr).toBe('');
  });

  it('keeps the real debug for a namespace DEBUG enables at start: the parser logs as before', async () => {
    const { out, stderr } = await probe({ DEBUG: 'mqtt-packet:*' });
    expect(out).toEqual({ got: 'plant/a/b=1.5', enabled: true, empty: false });
    expect(stderr).toContain('mqtt-packet:parser _parsePublish');
  });

  it('leaves other namespaces alone when DEBUG names only one', async () => {
    const { out, stderr } = await probe({ DEBUG: 'aedes*' });
    expect(out.enabled).toBe(false);
    expect(stderr).not.toContain('mqtt-packet');
  });
});
