import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { BIN, TestGateway } from '../../helpers/gateway.js';
import { tempDir } from '../../helpers/journal.js';
import { OpcuaServer, TEST_NS } from '../../helpers/opcua.js';
import { waitFor } from '../../helpers/ports.js';
import { cleanupsAfterAll } from '../../helpers/cleanups.js';

const run = promisify(execFile);
const cleanups = cleanupsAfterAll();

/** A gateway subscribed to Line3.Temp over SignAndEncrypt (the default), trusting the server on first use. */
function tofuGateway(endpoint: string, auth = ''): Promise<TestGateway> {
  return TestGateway.create({
    yaml: `opcua:\n  servers:\n    - name: line3\n      endpoint: ${endpoint}\n      trust_on_first_use: true\n${auth ? `      ${auth}\n` : ''}      nodes: [ { node_id: "nsu=${TEST_NS};s=Line3.Temp", tag: temp } ]\n`,
  });
}

describe('OPC UA security: SignAndEncrypt, the trust flow, user names', () => {
  it('rejects an unknown server certificate until pki trust, then subscribes without a restart; wrong passwords and None are refused clearly', async () => {
    const server = await OpcuaServer.create({
      allowNone: false,
      users: { fieldgate: 's3cret' },
      variables: [{ name: 'Temp', type: 'Double', value: 1, moving: true }],
    });
    cleanups.push(() => server.stop());
    const pw = join(tempDir('fg-ua-pw-'), 'line3.pass');
    writeFileSync(pw, 's3cret\n');
    const node = `nodes: [ { node_id: "nsu=${TEST_NS};s=Line3.Temp", tag: temp } ]`;
    const g = await TestGateway.create({
      yaml: `opcua:
  servers:
    - name: line3
      endpoint: ${server.endpoint}
      security: { mode: SignAndEncrypt, policy: Basic256Sha256 }
      auth: { type: username, username: fieldgate, password_file: ${pw} }
      ${node}
    - name: intruder
      endpoint: ${server.endpoint}
      security: { mode: SignAndEncrypt }
      auth: { type: username, username: fieldgate, password: wrong }
      ${node}
    - name: plain
      endpoint: ${server.endpoint}
      security: { mode: None }
      ${node}
`,
    });
    cleanups.push(() => g.stop());
    await g.start();

    // Unknown certificate: refused, stored in pki/rejected, and the log says which command trusts it.
    const rejection = () => g.logs.split('\n').find((l) => l.includes('fieldgate pki trust') && l.includes('"server":"line3"'));
    await waitFor('the rejection', () => !!rejection(), 20_000, 100);
    const line = rejection()!;
    const { certificate: file, msg } = JSON.parse(line) as { certificate: string; msg: string };
    expect(file.startsWith(join(g.stateDir, 'pki', 'rejected'))).toBe(true);
    expect(msg).toContain(`fieldgate pki trust '${file}' -c '${g.config}'`);
    expect(await g.metric('fieldgate_opcua_errors_total{server="line3",reason="untrusted"}')).toBeGreaterThanOrEqual(1);
    expect(await g.query("SELECT count() FROM fieldgate.points WHERE device = 'line3' AND quality = 0")).toBe('0');

    // The operator trusts it from another process; the running gateway connects on its next attempt.
    const trustedAt = Date.now();
    const out = await run(process.execPath, [BIN, 'pki', 'trust', file, '-c', g.config]);
    expect(out.stdout).toContain('trusted');
    expect(readdirSync(join(g.stateDir, 'pki', 'trusted', 'certs'))).toHaveLength(1);
    const listed = await run(process.execPath, [BIN, 'pki', 'list', '-c', g.config]);
    expect(listed.stdout).toMatch(/^trusted\t[0-9a-f]{40}\t/m);
    await waitFor(
      'values over SignAndEncrypt',
      async () => Number(await g.query("SELECT count() FROM fieldgate.points WHERE device = 'line3' AND quality = 0")) > 2,
      20_000,
      200,
    );
    console.log(`values over SignAndEncrypt stored ${Date.now() - trustedAt} ms after pki trust`);
    expect(g.logs).toContain('"security":"SignAndEncrypt/Basic256Sha256"');

    // A wrong password: refused with a clear error, never a session.
    await waitFor('the refused identity', () => /"server":"intruder"[^\n]*refused the user identity/.test(g.logs), 20_000, 100);
    expect(await g.query("SELECT count() FROM fieldgate.points WHERE device = 'intruder' AND quality = 0")).toBe('0');
    // Mode None against a server that offers only secured endpoints: refused, with a warning at start.
    expect(g.logs).toMatch(/"server":"plain"[^\n]*security mode None/);
    await waitFor('the refused None endpoint', () => /"server":"plain"[^\n]*no endpoint with this security mode/.test(g.logs), 20_000, 100);
    expect(await g.query("SELECT count() FROM fieldgate.points WHERE device = 'plain' AND quality = 0")).toBe('0');
    expect(await g.metric('fieldgate_opcua_session_up{server="intruder"}')).toBe(0);
  });

  it('logs in with a user certificate (X509 identity token)', async () => {
    const server = await OpcuaServer.create({ allowNone: false, variables: [{ name: 'Temp', type: 'Double', value: 1, moving: true }] });
    cleanups.push(() => server.stop());
    const dir = tempDir('fg-ua-user-');
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        join(dir, 'user.key'),
        '-out',
        join(dir, 'user.pem'),
        '-days',
        '2',
        '-subj',
        '/CN=fieldgate-user',
      ],
      { stdio: 'ignore' },
    );
    const g = await tofuGateway(server.endpoint, `auth: { type: certificate, cert_file: ${join(dir, 'user.pem')}, key_file: ${join(dir, 'user.key')} }`);
    cleanups.push(() => g.stop());
    await g.start();
    await waitFor('values', async () => Number(await g.query("SELECT count() FROM fieldgate.points WHERE device = 'line3' AND quality = 0")) > 0, 20_000, 200);
    expect((await server.stats()).identities).toContain('X509IdentityToken');
  });

  it('trust_on_first_use accepts the first certificate and keeps it', async () => {
    const server = await OpcuaServer.create({ allowNone: false, variables: [{ name: 'Temp', type: 'Double', value: 1, moving: true }] });
    cleanups.push(() => server.stop());
    const g = await tofuGateway(server.endpoint);
    cleanups.push(() => g.stop());
    await g.start();
    await waitFor('values', async () => Number(await g.query("SELECT count() FROM fieldgate.points WHERE device = 'line3' AND quality = 0")) > 0, 20_000, 200);
    expect(g.logs).toContain('trusted the server certificate on first use');
    expect(readdirSync(join(g.stateDir, 'pki', 'trusted', 'certs'))).toHaveLength(1);
    // The application certificate was generated once, under state_dir/pki, not the home directory.
    expect(existsSync(join(g.stateDir, 'pki', 'own', 'certs', 'client_certificate.pem'))).toBe(true);
  });
});
