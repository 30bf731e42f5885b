import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { exampleYaml, jsonSchema } from '../../src/config/generate.js';
import { loadConfig, parseConfig } from '../../src/config/load.js';
import { formatIssue } from '../../src/core/schema.js';
import { tempDir } from '../helpers/journal.js';
import { ROOT } from '../helpers/gateway.js';

const ENV = { PORT: '1884', SECRET: 'a#b: c' };

function errors(text: string): string[] {
  return parseConfig(text, 'f.yaml', ENV).issues.map(formatIssue);
}

describe('configuration errors', () => {
  it.each([
    ['state_dir: ./d\nbroker:\n  listeners:\n    - { type: tcp, bind: "localhost" }\n', 'f.yaml:4:26: broker.listeners[0].bind: got "localhost", expected an address such as 127.0.0.1:1883 or [::1]:1883'],
    ['state_dir: ./d\nclickhouse:\n  url: ftp://x\n', 'f.yaml:3:8: clickhouse.url: got "ftp://x", expected an http:// or https:// URL such as http://127.0.0.1:8123'],
    ['state_dir: ./d\nclickhouse:\n  urll: http://x\n', 'f.yaml:3:3: clickhouse.urll: unknown key "urll"; expected one of: url, urls, cluster, insert_via, database, table, user, password, password_file, tls_ca_file, init_sql, create_tables, ttl, rollups, retention, dedup_window, request_timeout, retry_initial, retry_max, query_timeout, query_max_memory, embedded_max_memory, deadletter_max_bytes'],
    ['broker: {}\n', "f.yaml:1:1: state_dir: is required (Folder for the journal, cursors, dead letters and the embedded store; relative paths are taken from the config file's folder.)"],
    ['state_dir: ./d\njournal:\n  commit_interval: 20\n', 'f.yaml:3:20: journal.commit_interval: got 20, expected a duration such as 500ms, 1s, 5m, 90d, 1y (at least 1 ms)'],
    ['state_dir: ./d\njournal:\n  on_full: panic\n', 'f.yaml:3:12: journal.on_full: got "panic", expected one of: drop_oldest, block'],
    ['state_dir: ./d\njournal:\n  max_bytes: lots\n', 'f.yaml:3:14: journal.max_bytes: got "lots", expected a size such as 64MiB, 1GiB or a number of bytes (at least 8192 bytes)'],
    ['state_dir: ./d\nmqtt:\n  routes:\n    - { topic: "a/{x+}/b", format: number }\n', 'f.yaml:4:16: mqtt.routes[0].topic: "a/{x+}/b" is not a valid template: {x+} must be the last level'],
    ['state_dir: ./d\nmqtt:\n  routes:\n    - { topic: "a/{x}", format: xml }\n', 'f.yaml:4:33: mqtt.routes[0].format: got "xml", expected one of: number, json, raw, sparkplug'],
    ['state_dir: ./d\njournal:\n  segment_bytes: 64MiB\n  max_bytes: 100MiB\n', 'f.yaml:4:14: journal.max_bytes: 104857600 bytes is less than two segments (segment_bytes 67108864); expected at least 134217728'],
    ['state_dir: ./d\nbatch:\n  max_rows: -5\n', 'f.yaml:3:13: batch.max_rows: got -5, expected a whole number of at least 1'],
    ['state_dir: ./d\nclickhouse:\n  url: ${NOPE}\n', 'f.yaml:3:8: clickhouse.url: environment variable NOPE is not set (write ${NOPE:-default} to give a default)'],
    ['state_dir: ./d\nclickhouse:\n  password: x\n', 'f.yaml:3:13: clickhouse.password: password needs url or urls; the embedded store has no login and no cluster'],
    ['state_dir: ./d\nclickhouse:\n  url: http://x\n  password_file: /nonexistent/pw\n', `f.yaml:4:18: clickhouse.password_file: cannot read "/nonexistent/pw": ENOENT: no such file or directory, open '/nonexistent/pw'`],
    ['state_dir: ./d\nstate_dir: ./e\n', 'f.yaml:2:1: (root): YAML syntax: Map keys must be unique'],
    ['', 'f.yaml:1:1: (root): the file is empty; expected a mapping with at least state_dir'],
    ['- a\n- b\n', 'f.yaml:1:1: (root): got a list, expected a mapping of state_dir, gateway_id, log, broker, mqtt, modbus, opcua, journal, batch, clickhouse, sinks, partners, workers, http, shutdown'],
    ['state_dir: ./d\nworkers: { threads: 1.5 }\n', 'f.yaml:2:21: workers.threads: got 1.5, expected a whole number from 0 to 64'],
    ['state_dir: ./d\nclickhouse: {}\nsinks:\n  - { name: a, clickhouse: {} }\n', 'f.yaml:2:13: clickhouse: give clickhouse (one store) or sinks (several), not both: move it into sinks as { name: clickhouse, clickhouse: {...} }'],
    ['state_dir: ./d\nsinks:\n  - { name: a, clickhouse: {} }\n  - { name: b, clickhouse: {} }\n', 'f.yaml:3:3: sinks: a and b are both the embedded store (no url): there is one per gateway, under state_dir/store'],
    ['state_dir: ./d\nsinks:\n  - { name: a, clickhouse: {} }\n  - { name: a, clickhouse: { url: "http://x:1" } }\n', 'f.yaml:3:3: sinks: sink name "a" is used twice'],
    ['state_dir: ./d\nsinks:\n  - { name: c, clickhouse: { url: "http://x:1", urls: [ "http://y:1" ] } }\n', 'f.yaml:3:55: sinks[0].clickhouse.urls: give url (one server) or urls (replicas), not both'],
    ['state_dir: ./d\nsinks:\n  - { name: c, clickhouse: { urls: [ "http://y:1" ], insert_via: distributed } }\n', 'f.yaml:3:66: sinks[0].clickhouse.insert_via: distributed needs cluster (the Distributed table is made over the cluster\'s replicated tables)'],
    ['state_dir: ./d\nsinks:\n  - { name: c, clickhouse: { cluster: plant } }\n', 'f.yaml:3:39: sinks[0].clickhouse.cluster: cluster needs url or urls; the embedded store has no login and no cluster'],
    ['state_dir: ./d\nsinks:\n  - { name: "c.d", clickhouse: {} }\n', 'f.yaml:3:13: sinks[0].name: got "c.d", expected up to 64 letters, digits, _ or -'],
    ['state_dir: ./d\nlog: { level: loud }\n', 'f.yaml:2:15: log.level: got "loud", expected one of: fatal, error, warn, info, debug, trace, silent'],
  ])('%j', (text, want) => {
    expect(errors(text)).toEqual([want]);
  });

  it('reports every problem of a file, not only the first', () => {
    expect(errors('state_dir: ./d\njournal:\n  max_bytes: lots\n  on_full: panic\n')).toHaveLength(2);
  });
});

describe('configuration values', () => {
  it('substitutes ${VAR} inside parsed values: a secret with # or ": " cannot reshape the YAML', () => {
    const r = parseConfig('state_dir: ./d\nbroker: { listeners: [ { type: tcp, bind: "127.0.0.1:${PORT}" } ] }\nclickhouse: { url: "http://x", password: "${SECRET}", database: "${DB:-plant}" }\n', '/etc/fieldgate/f.yaml', ENV);
    expect(r.issues).toEqual([]);
    expect(r.config?.clickhouse.password).toBe('a#b: c');
    expect(r.config?.clickhouse.database).toBe('plant');
    expect(r.config?.broker.listeners[0]?.bind).toBe('127.0.0.1:1884');
    expect(r.config?.state_dir).toBe('/etc/fieldgate/d');
  });

  it('reads password_file without its trailing newline', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'pw'), 's3cret: #1\n');
    const r = parseConfig(`state_dir: ./d\nclickhouse: { url: "http://x", password_file: ${join(dir, 'pw')} }\n`, 'f.yaml', ENV);
    expect(r.config?.clickhouse.password).toBe('s3cret: #1');
  });

  it('fills every default', () => {
    const r = parseConfig('state_dir: /var/lib/fieldgate\n', 'f.yaml', {});
    expect(r.config).toMatchObject({
      broker: { listeners: [{ type: 'tcp', bind: '127.0.0.1:1883' }] },
      journal: { commit_interval: 20, fsync: 'always', on_full: 'drop_oldest', max_bytes: 1024 ** 3 },
      batch: { max_rows: 50_000, max_delay: 1000 },
      clickhouse: { database: 'fieldgate', table: 'points', create_tables: true },
      http: { bind: '127.0.0.1:9464' },
    });
    expect(r.config?.clickhouse.url).toBeUndefined();
  });

  it('accepts the contract config of the start-here issue as written', () => {
    const text = `state_dir: ./data                 # journal, cursors, dead letters, embedded store
broker:
  listeners:
    - { type: tcp, bind: "127.0.0.1:1883" }
mqtt:
  routes:
    - { topic: "plant/{device}/{tag+}", format: number }
    - { topic: "json/{device}", format: json }
clickhouse:
  url: http://127.0.0.1:8123      # leave out for the embedded store
  database: fieldgate             # created if missing when create_tables is on (default)
http:
  bind: "127.0.0.1:9464"
`;
    expect(parseConfig(text, 'f.yaml', {}).issues).toEqual([]);
  });
});

describe('generated files', () => {
  it('config/fieldgate.schema.json and config/fieldgate.example.yaml are up to date (npm run gen:config)', () => {
    expect(readFileSync(join(ROOT, 'config/fieldgate.schema.json'), 'utf8')).toBe(jsonSchema());
    expect(readFileSync(join(ROOT, 'config/fieldgate.example.yaml'), 'utf8')).toBe(exampleYaml());
  });

  it('the example and the demo configs validate', () => {
    expect(() => loadConfig(join(ROOT, 'config/fieldgate.example.yaml'), {})).not.toThrow();
    expect(() => loadConfig(join(ROOT, 'config/demo.yaml'), {})).not.toThrow();
  });
});
