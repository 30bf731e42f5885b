/**
 * Who may open the console: HTTP basic auth against `http.users` (the broker's password hashes).
 * A verified Authorization header is remembered for a while (by its SHA-256), so the console's
 * polls do not run scrypt on every request; failures are never remembered. The CSRF token of a
 * user is an HMAC under a secret made at start, so it dies with the process.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { verifyPassword } from '../core/passwords.js';

const REMEMBER_MS = 10 * 60_000;

export class BasicAuth {
  private readonly users: Map<string, string>;
  private readonly ok = new Map<string, { user: string; at: number }>();
  private readonly secret = randomBytes(32);

  constructor(users: Array<{ username: string; password_hash: string }>) {
    this.users = new Map(users.map((u) => [u.username, u.password_hash]));
  }

  get enabled(): boolean {
    return this.users.size > 0;
  }

  /** The user a request authenticates as; undefined when it does not (no header, unknown user, wrong password). */
  async user(req: IncomingMessage): Promise<string | undefined> {
    const h = req.headers.authorization;
    if (!h?.startsWith('Basic ')) return undefined;
    const text = Buffer.from(h.slice(6).trim(), 'base64').toString('utf8');
    const i = text.indexOf(':');
    if (i < 0) return undefined;
    const name = text.slice(0, i);
    return (await this.verify(name, text.slice(i + 1))) ? name : undefined;
  }

  /** Whether the password is the user's; a success is remembered for a while. */
  async verify(name: string, password: string): Promise<boolean> {
    const key = createHash('sha256').update(`${name}\u0000${password}`).digest('hex');
    const hit = this.ok.get(key);
    if (hit && Date.now() - hit.at < REMEMBER_MS) return true;
    const hash = this.users.get(name);
    if (!hash || !(await verifyPassword(password, hash))) return false;
    if (this.ok.size > 1000) this.ok.clear();
    this.ok.set(key, { user: name, at: Date.now() });
    return true;
  }

  csrf(user: string): string {
    return createHmac('sha256', this.secret).update(user).digest('base64url');
  }

  checkCsrf(user: string, token: string | undefined): boolean {
    const want = Buffer.from(this.csrf(user));
    const got = Buffer.from(token ?? '');
    return got.length === want.length && timingSafeEqual(got, want);
  }
}
