/**
 * Fuzzing what the gateway parses besides MQTT packets: every payload decoder with adversarial
 * generators (long runs of escapes, unterminated strings, deep nesting, huge numbers, many keys,
 * random protobuf), the config loader (YAML-shaped noise and mutations of the example file), and
 * the HTTP endpoint (random methods, paths, headers and bodies). Decoders must stay linear: the
 * time per byte is measured at two sizes and bounded, and the worst is reported.
 */
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { ChunkDecoder } from '../../src/encode/decode.js';
import { cleanupsAfterAll } from '../helpers/cleanups.js';
import { ROOT, TestGateway } from '../helpers/gateway.js';
import { TEST_MQTT, mqttChunk } from '../helpers/frames.js';

const cleanups = cleanupsAfterAll();
const CFG = {
  ...TEST_MQTT,
  routes: [
    ...TEST_MQTT.routes,
    { topic: 'sp/{device}', format: 'sparkplug', device: '{device}', tag: '{tag}', columns: [] },
    { topic: 'raw/{device}', format: 'raw', device: '{device}', tag: 'raw', columns: [] },
  ],
} as typeof TEST_MQTT;

/** Adversarial payload shapes, each a function of a size in bytes. */
const SHAPES: Record<string, (n: number) => string | Buffer> = {
  'escapes after a big integer': (n) => `1234567890123456 "${'\\"'.repeat(n / 2)}`,
  'unterminated string': (n) => `{"a":"${'x'.repeat(n)}`,
  'deep arrays': (n) => '['.repeat(n / 2) + ']'.repeat(n / 2),
  'deep objects': (n) => '{"a":'.repeat(n / 5) + '1' + '}'.repeat(n / 5),
  'many keys': (n) => `{${Array.from({ length: n / 12 }, (_, i) => `"k${i}":${i}`).join(',')}}`,
  'huge integer': (n) => '9'.repeat(n),
  'huge exponent': (n) => `1e${'9'.repeat(n)}`,
  'digits and quotes': (n) => '1234567890123456"'.repeat(n / 17),
  'big integers in an array': (n) => `[${Array.from({ length: n / 20 }, () => '12345678901234567890').join(',')}]`,
  'number route, long text': (n) => ' '.repeat(n) + '1',
  'protobuf lengths': (n) => Buffer.concat([Buffer.from([0x12, 0xff, 0xff, 0xff, 0xff, 0x0f]), Buffer.alloc(n, 0x12)]),
};

function decodeMs(topic: string, body: string | Buffer): number {
  const chunk = mqttChunk([{ topic, body }]);
  const d = new ChunkDecoder(CFG);
  const t0 = process.hrtime.bigint();
  d.decode(chunk);
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

describe('payload decoders are linear in their input', () => {
  it('every adversarial shape on every route: time per byte bounded at 32 KiB and 512 KiB', () => {
    const report: string[] = [];
    let worstNsPerByte = 0;
    for (const [name, make] of Object.entries(SHAPES)) {
      for (const topic of ['json/d', 'plant/d/t', 'sp/d', 'raw/d']) {
        decodeMs(topic, make(1024)); // warm
        const small = Math.min(decodeMs(topic, make(32 * 1024)), decodeMs(topic, make(32 * 1024)));
        const large = Math.min(decodeMs(topic, make(512 * 1024)), decodeMs(topic, make(512 * 1024)));
        const nsPerByte = (large * 1e6) / (512 * 1024);
        worstNsPerByte = Math.max(worstNsPerByte, nsPerByte);
        if (nsPerByte > 200) report.push(`${name} on ${topic}: ${nsPerByte.toFixed(0)} ns/byte`);
        // 16 × the input: linear is ~16 × the time, quadratic ~256 ×. Small times are noisy: floor them.
        expect(large, `${name} on ${topic}: ${small.toFixed(1)} ms → ${large.toFixed(1)} ms`).toBeLessThan(Math.max(small, 2) * 64);
        expect(nsPerByte, `${name} on ${topic}`).toBeLessThan(2000);
      }
    }
    console.log(
      `decoder fuzz: ${Object.keys(SHAPES).length} shapes × 4 routes, worst ${worstNsPerByte.toFixed(0)} ns per byte at 512 KiB${report.length ? `; slowest: ${report.join('; ')}` : ''}`,
    );
  });

  it('random payloads never throw out of a decoder', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('json/d', 'plant/d/t', 'sp/d', 'raw/d'),
        fc.oneof(
          fc.string({ maxLength: 400 }),
          fc.uint8Array({ maxLength: 400 }).map((a) => Buffer.from(a)),
          fc.json(),
        ),
        (topic, body) => {
          const r = new ChunkDecoder(CFG).decode(mqttChunk([{ topic, body }]));
          expect(r.records).toBe(1);
        },
      ),
      { numRuns: 2000 },
    );
  });
});

describe('the config loader', () => {
  const example = readFileSync(`${ROOT}/config/fieldgate.example.yaml`, 'utf8');
  const token = fc.constantFrom(
    '&a ',
    '*a',
    '&b ',
    '*b',
    '[',
    ']',
    '{',
    '}',
    ': ',
    '- ',
    '\n',
    '  ',
    '"',
    "'",
    '${X}',
    '${X:-1}',
    'state_dir',
    'modbus',
    'devices',
    '!!binary ',
    '? ',
    '|',
    '>',
    '#',
    '<<: *a',
    '1e999',
    '~',
    'null',
  );
  it('never throws and answers within a bound on YAML-shaped noise and mutated example files', () => {
    let worst = 0;
    let cases = 0;
    fc.assert(
      fc.property(
        fc.oneof(
          fc.array(token, { maxLength: 80 }).map((t) => `state_dir: ./d\n${t.join('')}`),
          fc.tuple(fc.nat(), fc.array(token, { maxLength: 6 })).map(([at, t]) => {
            const i = at % example.length;
            return example.slice(0, i) + t.join('') + example.slice(i);
          }),
        ),
        (text) => {
          const t0 = Date.now();
          const r = parseConfig(text, 'fuzz.yaml', {});
          worst = Math.max(worst, Date.now() - t0);
          cases++;
          expect(r.config !== undefined || r.issues.length > 0).toBe(true);
          for (const i of r.issues) expect(i.pos.file).toBe('fuzz.yaml');
        },
      ),
      { numRuns: 1500 },
    );
    expect(worst).toBeLessThan(3000);
    console.log(`config fuzz: ${cases} inputs, worst ${worst} ms`);
  });
});

describe('the HTTP endpoint', () => {
  it('random methods, paths, headers and bodies: no 500, the gateway stays healthy', async () => {
    const g = await TestGateway.create();
    cleanups.push(() => g.stop('SIGKILL'));
    await g.start();
    const statuses = new Map<number, number>();
    const send = (method: string, path: string, headers: Record<string, string>, body: Buffer): Promise<number> =>
      new Promise((resolve) => {
        const req = request({ host: '127.0.0.1', port: g.httpPort, method, path, headers, timeout: 5000 }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        });
        req.on('error', () => resolve(-1));
        req.on('timeout', () => req.destroy());
        req.end(body);
      });
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'HEAD', 'OPTIONS', 'PATCH'),
        fc.oneof(
          fc.constantFrom(
            '/metrics',
            '/healthz',
            '/readyz',
            '/status',
            '/query',
            '/query?format=JSON',
            '/query?format=%00',
            '/deadletter/replay',
            '//',
            '/../../etc/passwd',
            '/query?format=' + 'A'.repeat(5000),
          ),
          fc.webPath(),
        ),
        fc.dictionary(
          fc.constantFrom('content-type', 'x-a', 'accept', 'content-encoding', 'transfer-encoding'),
          fc.constantFrom('text/plain', 'gzip', 'application/json', '*/*', 'x'),
          { maxKeys: 3 },
        ),
        fc.oneof(
          fc.string({ maxLength: 300 }).map((s) => Buffer.from(s)),
          fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
          fc.constantFrom(Buffer.from('SELECT 1'), Buffer.from("SELECT * FROM file('/etc/passwd')")),
        ),
        async (method, path, headers, body) => {
          const h = { ...headers };
          if (h['transfer-encoding']) delete h['transfer-encoding'];
          const s = await send(method, path.startsWith('/') ? path : `/${path}`, h, method === 'GET' || method === 'HEAD' ? Buffer.alloc(0) : body);
          statuses.set(s, (statuses.get(s) ?? 0) + 1);
          expect(s).not.toBe(500);
        },
      ),
      { numRuns: 300 },
    );
    expect(g.alive).toBe(true);
    expect((await fetch(`http://127.0.0.1:${g.httpPort}/healthz`)).status).toBe(200);
    console.log(`http fuzz: 300 requests, statuses ${JSON.stringify(Object.fromEntries(statuses))}`);
  });
});
