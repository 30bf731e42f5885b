import { createHash, pbkdf2Sync, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Acl, parseMosquittoAcl } from '../../src/broker/acl.js';
import { checkHashFormat, hashPassword, parsePasswordFile, verifyPassword } from '../../src/core/passwords.js';

const who = (username: string | undefined, clientId = 'c1') => ({ username, clientId });

describe('ACL rules', () => {
  const acl = new Acl([
    { user: 'press1', topic: 'plant/press1/secret', access: 'deny' },
    { user: 'press1', topic: 'plant/press1/#', access: 'write' },
    { topic: 'devices/%u/#', access: 'readwrite' },
    { client: 'dash', topic: 'plant/#', access: 'read' },
    { user: '', topic: 'public/#', access: 'read' },
  ]);
  it.each([
    ['press1 writes its own topics', acl.canWrite(who('press1'), 'plant/press1/temp'), true],
    ['first match wins: the deny before the grant', acl.canWrite(who('press1'), 'plant/press1/secret'), false],
    ['write does not grant read', acl.canRead(who('press1'), 'plant/press1/temp'), false],
    ['nothing matches: denied once rules exist', acl.canWrite(who('press1'), 'plant/press2/temp'), false],
    ['%u is the username', acl.canWrite(who('press2'), 'devices/press2/x'), true],
    ['%u of another user', acl.canWrite(who('press2'), 'devices/press1/x'), false],
    ['%u never matches an anonymous client', acl.canWrite(who(undefined), 'devices//x'), false],
    ['a client-id rule', acl.canSubscribe(who(undefined, 'dash'), 'plant/+/temp'), true],
    ['anonymous-only rule', acl.canSubscribe(who(undefined, 'x'), 'public/#'), true],
    ['anonymous-only rule, a named user', acl.canSubscribe(who('press2', 'x'), 'public/#'), false],
    ['a username holding a wildcard does not widen %u', acl.canWrite(who('#'), 'devices/a/x'), false],
  ])('%s', (_n, got, want) => {
    expect(got).toBe(want);
  });

  it('no rules: everything allowed', () => {
    expect(new Acl([]).canWrite(who(undefined), 'a/b')).toBe(true);
  });

  it('reads a mosquitto acl_file: denies first, topic lines before any user are anonymous', () => {
    const r = parseMosquittoAcl(
      '# comment\ntopic read public/#\n\nuser press1\ntopic write plant/press1/#\ntopic deny plant/press1/secret\npattern readwrite devices/%u/#\nbogus line\n',
    );
    expect(r.rules).toEqual([
      { user: 'press1', topic: 'plant/press1/secret', access: 'deny' },
      { user: '', topic: 'public/#', access: 'read' },
      { user: 'press1', topic: 'plant/press1/#', access: 'write' },
      { topic: 'devices/%u/#', access: 'readwrite' },
    ]);
    expect(r.problems).toEqual([{ line: 8, message: 'unknown line "bogus line"; expected user, topic or pattern' }]);
  });
});

describe('password hashes', () => {
  it('verifies its own scrypt hashes, mosquitto $7$ (PBKDF2-SHA512) and $6$ (salted SHA-512)', async () => {
    const h = await hashPassword('s3cret');
    expect(await verifyPassword('s3cret', h)).toBe(true);
    expect(await verifyPassword('s3creT', h)).toBe(false);
    const salt = randomBytes(12);
    const seven = `$7$101$${salt.toString('base64')}$${pbkdf2Sync('pw', salt, 101, 64, 'sha512').toString('base64')}`;
    expect(await verifyPassword('pw', seven)).toBe(true);
    expect(await verifyPassword('px', seven)).toBe(false);
    const six = `$6$${salt.toString('base64')}$${createHash('sha512').update('pw').update(salt).digest('base64')}`;
    expect(await verifyPassword('pw', six)).toBe(true);
    expect(checkHashFormat('plain')).toContain('plain passwords are not accepted');
    expect(parsePasswordFile(`a:${seven}\nb:plain\n# c\n`).problems).toEqual([
      {
        line: 2,
        message:
          'user "b": the hash is not a password hash; expected one from fieldgate passwd ($fg-scrypt$…) or mosquitto_passwd ($7$… or $6$…): plain passwords are not accepted',
      },
    ]);
  });
});
