/**
 * Who may connect and what they may do: users and password hashes (inline and
 * a password file), anonymous access per listener, client certificates, ACLs,
 * and the connection-level checks aedes does not make. Decisions only; the
 * aedes hooks in client.ts call them. reload() swaps users and rules in place
 * (SIGHUP) without touching connected clients.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Logger } from '../telemetry/logger.js';
import { Acl, parseMosquittoAcl, type AclRule, type Who } from './acl.js';
import type { BrokerConfig, ListenerConfig } from './config.js';
import { parsePasswordFile, verifyPassword } from '../core/passwords.js';

/** CONNACK return codes of MQTT 3.1.1 (3.2.2.3). */
export const Connack = { IdentifierRejected: 2, ServerUnavailable: 3, BadUsernameOrPassword: 4, NotAuthorized: 5 } as const;

export interface ConnInfo {
  listener: ListenerConfig;
  loopback: boolean;
  remote: string;
  /** The verified client certificate's CN (tls/wss with require_client_cert). */
  certCn?: string;
}

export type AuthResult =
  | { ok: true; username: string | undefined }
  | { ok: false; code: number; reason: 'bad_credentials' | 'anonymous' | 'rate_limited' | 'identifier' | 'max_connections' };

const FAILURE_WINDOW_MS = 60_000;
const FAILURES_BEFORE_BLOCK = 10;
const CACHE_MAX = 1000;

export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

export class BrokerSecurity {
  private users = new Map<string, string>();
  private acl = new Acl([]);
  /** user + sha256(password) → verified; cleared when users change. */
  private readonly cache = new Map<string, boolean>();
  private readonly failures = new Map<string, { count: number; since: number }>();

  constructor(
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /** Loads users and rules from the configuration and the files it names. */
  load(cfg: BrokerConfig): { users: number; rules: number } {
    const users = new Map<string, string>();
    if (cfg.password_file) for (const [u, h] of parsePasswordFile(readFileSync(cfg.password_file, 'utf8')).users) users.set(u, h);
    for (const u of cfg.users) users.set(u.username, u.password_hash);
    const rules: AclRule[] = cfg.acl.map((r) => ({
      ...(r.user !== undefined ? { user: r.user } : {}),
      ...(r.client !== undefined ? { client: r.client } : {}),
      topic: r.topic,
      access: r.access,
    }));
    if (cfg.acl_file) rules.push(...parseMosquittoAcl(readFileSync(cfg.acl_file, 'utf8')).rules);
    this.users = users;
    this.acl = new Acl(rules);
    this.cache.clear();
    return { users: users.size, rules: rules.length };
  }

  static anonymousAllowed(l: ListenerConfig, loopback: boolean): boolean {
    return l.allow_anonymous ?? loopback;
  }

  async authenticate(c: ConnInfo, username: string | undefined, password: Buffer | undefined): Promise<AuthResult> {
    const f = this.failures.get(c.remote);
    const t = this.now();
    if (f && t - f.since < FAILURE_WINDOW_MS && f.count >= FAILURES_BEFORE_BLOCK) return { ok: false, code: Connack.NotAuthorized, reason: 'rate_limited' };
    if (c.listener.cn_as_username) {
      // The TLS handshake verified the certificate against ca_file; its CN is who this is.
      if (c.certCn) return { ok: true, username: c.certCn };
      return this.fail(c, { ok: false, code: Connack.NotAuthorized, reason: 'bad_credentials' });
    }
    if (username === undefined) {
      if (BrokerSecurity.anonymousAllowed(c.listener, c.loopback)) return { ok: true, username: undefined };
      return this.fail(c, { ok: false, code: Connack.NotAuthorized, reason: 'anonymous' });
    }
    const hash = this.users.get(username);
    const pw = password?.toString('utf8') ?? '';
    const key = `${username}\0${createHash('sha256').update(pw).digest('base64')}`;
    let ok = this.cache.get(key);
    if (ok === undefined) {
      ok = hash !== undefined && (await verifyPassword(pw, hash));
      if (this.cache.size >= CACHE_MAX) this.cache.delete(this.cache.keys().next().value!);
      this.cache.set(key, ok);
    }
    if (ok) {
      this.failures.delete(c.remote);
      return { ok: true, username };
    }
    return this.fail(c, { ok: false, code: Connack.BadUsernameOrPassword, reason: 'bad_credentials' });
  }

  private fail(c: ConnInfo, r: AuthResult & { ok: false }): AuthResult {
    const t = this.now();
    const f = this.failures.get(c.remote);
    if (!f || t - f.since >= FAILURE_WINDOW_MS) this.failures.set(c.remote, { count: 1, since: t });
    else f.count++;
    if (this.failures.size > 10_000) this.failures.clear();
    return r;
  }

  canPublish(who: Who, topic: string): boolean {
    return this.acl.canWrite(who, topic);
  }

  canSubscribe(who: Who, filter: string): boolean {
    return this.acl.canSubscribe(who, filter);
  }

  canReceive(who: Who, topic: string): boolean {
    return this.acl.canRead(who, topic);
  }

  get hasRules(): boolean {
    return !this.acl.empty;
  }

  /** Start-up warnings: anonymous access off loopback. */
  warnings(listeners: readonly ListenerConfig[], loopback: (l: ListenerConfig) => boolean): void {
    for (const l of listeners) {
      if (l.allow_anonymous === true && !loopback(l))
        this.log.warn(
          { listener: l.type, bind: l.bind },
          'broker: allow_anonymous on a listener that is not loopback: anyone who reaches it may connect without a password',
        );
    }
  }
}
