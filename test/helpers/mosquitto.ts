/**
 * Debian's mosquitto as a partner's platform broker: TLS with client certificates (CN is the
 * username), an ACL, and persistence, on a free loopback port. Certificates are made with openssl.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { freePort, waitFor } from './ports.js';
import { tempDir } from './journal.js';

/** A CA, a server certificate for 127.0.0.1, and one client certificate per CN. */
export function makeCertificates(dir: string, clients: string[]): void {
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=fieldgate test CA');
  writeFileSync(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  for (const [name, cn, ext] of [['server', '127.0.0.1', ['-extfile', 'server.ext']] as const, ...clients.map((c) => [c, c, []] as const)]) {
    ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`);
    ssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.pem`, '-days', '2', ...ext);
  }
}

/** Debian installs the broker in /usr/sbin, which a non-root PATH may lack. */
const MOSQUITTO = existsSync('/usr/sbin/mosquitto') ? '/usr/sbin/mosquitto' : 'mosquitto';

export class Mosquitto {
  proc: ChildProcess | undefined;
  log = '';
  private constructor(
    readonly dir: string,
    readonly port: number,
  ) {}

  /** `acl`: mosquitto acl_file lines. Clients: certificate CNs to make (each is a username). */
  static async create(acl: string[], clients: string[]): Promise<Mosquitto> {
    const dir = tempDir('fg-mosq-');
    makeCertificates(dir, clients);
    const m = new Mosquitto(dir, await freePort());
    writeFileSync(join(dir, 'acl'), acl.join('\n') + '\n');
    writeFileSync(
      join(dir, 'mosquitto.conf'),
      [
        // As root, mosquitto would change to the user mosquitto, which cannot read this private folder.
        `user ${userInfo().username}`,
        `listener ${m.port} 127.0.0.1`,
        `cafile ${join(dir, 'ca.pem')}`,
        `certfile ${join(dir, 'server.pem')}`,
        `keyfile ${join(dir, 'server.key')}`,
        'require_certificate true',
        'use_identity_as_username true',
        `acl_file ${join(dir, 'acl')}`,
        'persistence true',
        `persistence_location ${dir}/`,
        'max_queued_messages 100000',
        'max_inflight_messages 100',
        'log_dest stderr',
        'log_type error',
        'log_type warning',
        '',
      ].join('\n'),
    );
    return m;
  }

  async start(): Promise<void> {
    const p = spawn(MOSQUITTO, ['-c', join(this.dir, 'mosquitto.conf')], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc = p;
    p.stdout?.on('data', (d: Buffer) => (this.log += d.toString()));
    p.stderr?.on('data', (d: Buffer) => (this.log += d.toString()));
    await waitFor(
      'mosquitto to listen',
      () =>
        new Promise<boolean>((res) => {
          if (p.exitCode !== null) return res(true);
          const s = createConnection(this.port, '127.0.0.1');
          s.once('connect', () => {
            s.destroy();
            res(true);
          });
          s.once('error', () => res(false));
        }),
      10_000,
      50,
    );
    if (p.exitCode !== null) throw new Error(`mosquitto exited ${p.exitCode}: ${this.log}`);
  }

  /** SIGTERM: mosquitto saves its persistent sessions and queued messages, as a planned restart does. */
  async stop(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise<void>((r) => p.once('exit', () => r()));
    p.kill('SIGTERM');
    await exited;
  }

  /** mqtt.js options for a client with the certificate of `cn`. */
  tls(cn: string): { ca: Buffer; cert: Buffer; key: Buffer } {
    const read = (f: string) => readFileSync(join(this.dir, f));
    return { ca: read('ca.pem'), cert: read(`${cn}.pem`), key: read(`${cn}.key`) };
  }

  get url(): string {
    return `mqtts://127.0.0.1:${this.port}`;
  }
}
