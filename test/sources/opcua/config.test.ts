import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/load.js';
import { formatIssue } from '../../../src/core/schema.js';
import { tempDir } from '../../helpers/journal.js';

const HEAD = 'state_dir: ./d\nopcua:\n  servers:\n    - name: line3\n      endpoint: opc.tcp://10.0.0.30:4840\n';
const errs = (text: string): string[] => parseConfig(text, 'f.yaml', {}).issues.map(formatIssue);

describe('OPC UA configuration', () => {
  it.each([
    [
      '      nodes:\n        - { node_id: "ns=x;s=A", tag: a }\n',
      'f.yaml:7:22: opcua.servers[0].nodes[0].node_id: got "ns=x;s=A": namespace index "x" is not a number 0–65535; expected ns=<index>;<id>, nsu=<namespace URI>;<id> or <id>, where <id> is i=<number>, s=<string>, g=<guid> or b=<base64>',
    ],
    [
      '      nodes:\n        - { node_id: "Line3.Temp", tag: a }\n',
      'f.yaml:7:22: opcua.servers[0].nodes[0].node_id: got "Line3.Temp": expected ns=<index>;<id>, nsu=<namespace URI>;<id> or <id>, where <id> is i=<number>, s=<string>, g=<guid> or b=<base64>',
    ],
    [
      '      nodes:\n        - { node_id: "ns=2;i=1", browse_path: /Objects/A, tag: a }\n',
      'f.yaml:7:11: opcua.servers[0].nodes[0]: give either node_id or browse_path, not both and not neither',
    ],
    [
      '      nodes:\n        - { browse_path: Objects/A, tag: a }\n',
      'f.yaml:7:26: opcua.servers[0].nodes[0].browse_path: got "Objects/A": expected a path from the root folder such as /Objects/Line3/Press/Counter',
    ],
    [
      '      nodes:\n        - { node_id: "ns=2;i=1", tag: a, mode: poll, sampling_interval: 1s }\n',
      'f.yaml:7:73: opcua.servers[0].nodes[0].sampling_interval: sampling_interval is for mode subscribe; a polled node is read every poll_interval',
    ],
    [
      '      nodes:\n        - { node_id: "ns=2;i=1", tag: a, poll_interval: 1s }\n',
      'f.yaml:7:57: opcua.servers[0].nodes[0].poll_interval: poll_interval is for mode poll',
    ],
    [
      '      nodes:\n        - { node_id: "ns=2;i=1", tag: a, deadband: { type: percent, value: 150 } }\n',
      'f.yaml:7:76: opcua.servers[0].nodes[0].deadband.value: got 150, expected a percentage 0–100',
    ],
    [
      '      nodes:\n        - { node_id: "ns=2;i=1", tag: a }\n        - { node_id: "ns=2;i=2", tag: a }\n',
      'f.yaml:7:9: opcua.servers[0].nodes: tag "a" is used twice',
    ],
    [
      '      security: { mode: None, policy: Basic256Sha256 }\n',
      'f.yaml:6:39: opcua.servers[0].security.policy: mode None takes no policy (got Basic256Sha256)',
    ],
    [
      '      security: { mode: SignAndEncrypt, policy: None }\n',
      'f.yaml:6:49: opcua.servers[0].security.policy: mode SignAndEncrypt needs a policy other than None, such as Basic256Sha256',
    ],
    ['      security: { mode: Encrypt }\n', 'f.yaml:6:25: opcua.servers[0].security.mode: got "Encrypt", expected one of: None, Sign, SignAndEncrypt'],
    [
      '      auth: { type: username, username: u }\n',
      'f.yaml:6:13: opcua.servers[0].auth.password: type username needs password or password_file (one of them)',
    ],
    ['      auth: { type: anonymous, username: u }\n', 'f.yaml:6:42: opcua.servers[0].auth.username: username is not used with type anonymous'],
    [
      '      auth: { type: username, username: u, password_file: /nonexistent/pw }\n',
      'f.yaml:6:59: opcua.servers[0].auth.password_file: cannot read "/nonexistent/pw": ENOENT: no such file or directory, open \'/nonexistent/pw\'',
    ],
  ])('%j', (tail, want) => {
    expect(errs(`${HEAD}${tail}`)).toEqual([want]);
  });

  it('checks the endpoint and every credential it needs', () => {
    expect(errs('state_dir: ./d\nopcua:\n  servers:\n    - name: l\n      endpoint: http://x\n')).toEqual([
      'f.yaml:5:17: opcua.servers[0].endpoint: got "http://x", expected an opc.tcp:// URL such as opc.tcp://10.0.0.30:4840',
    ]);
    expect(errs(`${HEAD}      auth: { type: certificate }\n`)).toEqual([
      'f.yaml:6:13: opcua.servers[0].auth.cert_file: is required with type certificate',
      'f.yaml:6:13: opcua.servers[0].auth.key_file: is required with type certificate',
    ]);
  });

  it('accepts the issue example as written, with secure defaults', () => {
    const pw = join(tempDir(), 'line3.pass');
    writeFileSync(pw, 'pw\n');
    const r = parseConfig(
      `state_dir: ./d
opcua:
  servers:
    - name: line3
      endpoint: opc.tcp://10.0.0.30:4840
      security: { mode: SignAndEncrypt, policy: Basic256Sha256 }   # None is allowed, with a warning at start
      auth: { type: username, username: fieldgate, password_file: ${pw} }   # or anonymous, or certificate
      publishing_interval: 1s
      nodes:
        - { node_id: "ns=3;s=Line3.Oven.Temp", tag: oven/temp, sampling_interval: 500ms, deadband: { type: absolute, value: 0.1 } }
        - { browse_path: "/Objects/Line3/Press/Counter", tag: press/counter }
        - { node_id: "ns=2;i=1001", tag: status, mode: poll, poll_interval: 10s }
`,
      'f.yaml',
      {},
    );
    expect(r.issues.map(formatIssue)).toEqual([]);
    const s = r.config!.opcua.servers[0];
    expect(s.auth.password).toBe('pw');
    expect(s.trust_on_first_use).toBe(false);
    expect(s.nodes[2]).toMatchObject({ mode: 'poll', poll_interval: 10_000 });
    // Secure by default: no security block means SignAndEncrypt with Basic256Sha256.
    const d = parseConfig(`${HEAD}      nodes: []\n`, 'f.yaml', {}).config!.opcua.servers[0];
    expect(d.security).toEqual({ mode: 'SignAndEncrypt', policy: 'Basic256Sha256' });
    expect(d.auth.type).toBe('anonymous');
  });
});
