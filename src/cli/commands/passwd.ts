import { EXIT, type Args } from '../args.js';
import { FgError } from '../../core/errors.js';
import { hashPassword } from '../../core/passwords.js';

/** Reads one line from stdin; on a terminal without echo. */
function readSecret(prompt: string): Promise<string> {
  const stdin = process.stdin;
  if (!stdin.isTTY) {
    return new Promise((res, rej) => {
      let text = '';
      stdin.setEncoding('utf8');
      stdin.on('data', (d: string) => (text += d));
      stdin.on('end', () => res(text.split(/\r?\n/)[0] ?? ''));
      stdin.on('error', rej);
    });
  }
  process.stderr.write(prompt);
  stdin.setRawMode(true);
  stdin.setEncoding('utf8');
  return new Promise((res) => {
    let text = '';
    const onData = (d: string) => {
      for (const ch of d) {
        if (ch === '\r' || ch === '\n' || ch === '\u0004') {
          stdin.setRawMode(false);
          stdin.pause();
          stdin.off('data', onData);
          process.stderr.write('\n');
          return res(text);
        }
        if (ch === '\u0003') process.exit(EXIT.usage);
        text = ch === '\u007f' ? text.slice(0, -1) : text + ch;
      }
    };
    stdin.on('data', onData);
    stdin.resume();
  });
}

export async function passwd(args: Args): Promise<number> {
  const user = args.rest[0];
  if (user !== undefined && (user.includes(':') || !user)) throw new FgError('FG_E_USAGE', `passwd: ${JSON.stringify(user)}: a username cannot contain ":"`);
  const pw = await readSecret('Password: ');
  if (!pw) throw new FgError('FG_E_USAGE', 'passwd: the password is empty');
  const hash = await hashPassword(pw);
  process.stdout.write(user === undefined ? `${hash}\n` : `${user}:${hash}\n`);
  return EXIT.ok;
}
