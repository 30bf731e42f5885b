/**
 * Password hashes: fieldgate's own (scrypt from node:crypto, printed by
 * `fieldgate passwd`) and mosquitto's, so a plant can keep its existing
 * password_file: `$7$` (PBKDF2-SHA512, mosquitto 2.x) and `$6$` (salted
 * SHA-512, mosquitto 1.x). Verification is asynchronous: the key derivations
 * run on the libuv pool, not the event loop.
 */
import { createHash, pbkdf2, randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { entryPos, object, str } from './schema.js';

const SCRYPT = { N: 16_384, r: 8, p: 1, keylen: 32 };
const PREFIX = '$fg-scrypt$';

/** `$fg-scrypt$N=16384,r=8,p=1$<salt base64>$<hash base64>` */
export function hashPassword(password: string, salt: Buffer = randomBytes(16)): Promise<string> {
  return new Promise((res, rej) =>
    scrypt(password, salt, SCRYPT.keylen, { N: SCRYPT.N, r: SCRYPT.r, p: SCRYPT.p }, (err, key) =>
      err ? rej(err) : res(`${PREFIX}N=${SCRYPT.N},r=${SCRYPT.r},p=${SCRYPT.p}$${salt.toString('base64')}$${key.toString('base64')}`),
    ),
  );
}

/** Whether a hash string has a form this module verifies; undefined when it does, else what is wrong. */
export function checkHashFormat(hash: string): string | undefined {
  if (hash.startsWith(PREFIX))
    return /^\$fg-scrypt\$N=\d+,r=\d+,p=\d+\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/.test(hash)
      ? undefined
      : 'is not a well-formed $fg-scrypt$ hash (fieldgate passwd prints one)';
  if (hash.startsWith('$7$')) return /^\$7\$\d+\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/.test(hash) ? undefined : 'is not a well-formed mosquitto $7$ hash';
  if (hash.startsWith('$6$')) return /^\$6\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/.test(hash) ? undefined : 'is not a well-formed mosquitto $6$ hash';
  return 'is not a password hash; expected one from fieldgate passwd ($fg-scrypt$…) or mosquitto_passwd ($7$… or $6$…): plain passwords are not accepted';
}

function same(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

export async function verifyPassword(password: string, hash: string): Promise<boolean> {
  if (hash.startsWith(PREFIX)) {
    const [, params, salt, key] = hash.slice(1).split('$');
    const p = Object.fromEntries(params.split(',').map((kv) => kv.split('=') as [string, string]));
    const want = Buffer.from(key, 'base64');
    const got = await new Promise<Buffer>((res, rej) =>
      scrypt(
        password,
        Buffer.from(salt, 'base64'),
        want.length,
        { N: Number(p.N), r: Number(p.r), p: Number(p.p), maxmem: 256 * Number(p.N) * Number(p.r) },
        (err, k) => (err ? rej(err) : res(k)),
      ),
    );
    return same(got, want);
  }
  if (hash.startsWith('$7$')) {
    const [, , iterations, salt, key] = hash.split('$');
    const want = Buffer.from(key, 'base64');
    const got = await new Promise<Buffer>((res, rej) =>
      pbkdf2(password, Buffer.from(salt, 'base64'), Number(iterations), want.length, 'sha512', (err, k) => (err ? rej(err) : res(k))),
    );
    return same(got, want);
  }
  if (hash.startsWith('$6$')) {
    const [, , salt, key] = hash.split('$');
    const got = createHash('sha512').update(password).update(Buffer.from(salt, 'base64')).digest();
    return same(got, Buffer.from(key, 'base64'));
  }
  return false;
}

/** A mosquitto-style password file: `user:hash` per line, # comments. Returns users and per-line problems. */
export function parsePasswordFile(text: string): { users: Map<string, string>; problems: Array<{ line: number; message: string }> } {
  const users = new Map<string, string>();
  const problems: Array<{ line: number; message: string }> = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const at = line.indexOf(':');
    if (at <= 0) {
      problems.push({ line: i + 1, message: 'expected user:hash' });
      return;
    }
    const user = line.slice(0, at);
    const hash = line.slice(at + 1);
    const bad = checkHashFormat(hash);
    if (bad) problems.push({ line: i + 1, message: `user ${JSON.stringify(user)}: the hash ${bad}` });
    else users.set(user, hash);
  });
  return { users, problems };
}

/** One user with a password hash: the broker's users and the console's (http.users). */
export const userSchema = object(
  {
    username: str({ description: 'The username.', minLength: 1 }),
    password_hash: str({ description: 'Its password hash, printed by `fieldgate passwd` (scrypt), or a mosquitto $7$ hash.' }),
  },
  {
    description: 'One user.',
    required: ['username', 'password_hash'],
    check(v, loc, path, issues) {
      const bad = checkHashFormat(v.password_hash);
      if (bad) issues.push({ pos: entryPos(loc, 'password_hash'), path: `${path}.password_hash`, message: `the value ${bad}` });
    },
  },
);
