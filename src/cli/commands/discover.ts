import { EXIT, type Args, configOf, flag } from '../args.js';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FgError, errorMessage } from '../../core/errors.js';
import { secretOf } from '../../core/schema.js';
import { SECURITY_MODES, SECURITY_POLICIES } from '../../sources/opcua/config.js';
import type { DiscoverOptions } from '../../sources/opcua/discover.js';
import { describeFailure } from '../../sources/opcua/status.js';
import { loadClientModule } from '../../sources/opcua/vendor.js';

export async function discoverCmd(args: Args): Promise<number> {
  const [kind, endpoint] = args.rest;
  if (kind !== 'opcua' || !endpoint)
    throw new FgError('FG_E_USAGE', 'discover takes: opcua <endpoint>, e.g. fieldgate discover opcua opc.tcp://10.0.0.30:4840');
  if (!/^opc\.tcp:\/\/[^\s/]+/.test(endpoint)) throw new FgError('FG_E_USAGE', `${endpoint}: expected an opc.tcp:// URL such as opc.tcp://10.0.0.30:4840`);
  const mode = flag(args, '--security-mode') ?? 'None';
  if (!(SECURITY_MODES as readonly string[]).includes(mode))
    throw new FgError('FG_E_USAGE', `--security-mode ${mode}: expected one of ${SECURITY_MODES.join(', ')}`);
  const policy = flag(args, '--security-policy') ?? (mode === 'None' ? 'None' : 'Basic256Sha256');
  if (!(SECURITY_POLICIES as readonly string[]).includes(policy))
    throw new FgError('FG_E_USAGE', `--security-policy ${policy}: expected one of ${SECURITY_POLICIES.join(', ')}`);
  const int = (name: string, def: number) => {
    const v = flag(args, name);
    if (v === undefined) return def;
    if (!/^\d+$/.test(v) || Number(v) < 1) throw new FgError('FG_E_USAGE', `${name} ${v}: expected a whole number of 1 or more`);
    return Number(v);
  };
  let filter: RegExp | undefined;
  const f = flag(args, '--filter');
  if (f !== undefined) {
    try {
      filter = new RegExp(f);
    } catch (err) {
      throw new FgError('FG_E_USAGE', `--filter ${f}: ${errorMessage(err)}`);
    }
  }
  const user = flag(args, '--user');
  const pwFile = flag(args, '--password-file');
  if ((user === undefined) !== (pwFile === undefined)) throw new FgError('FG_E_USAGE', '--user and --password-file go together');
  // The client certificate: the gateway's own (state_dir/pki) with -c, else a throwaway one.
  const pkiDir =
    typeof args.flags.get('-c') === 'string' ? join(configOf(args).state_dir, 'pki') : join(tmpdir(), `fieldgate-discover-${process.getuid?.() ?? 0}`, 'pki');
  const o: DiscoverOptions = {
    endpoint,
    name: flag(args, '--name') ?? (new URL(endpoint.replace(/^opc\.tcp:/, 'http:')).hostname.replace(/[^A-Za-z0-9_-]/g, '_') || 'server'),
    link: {
      securityMode: mode as DiscoverOptions['link']['securityMode'],
      securityPolicy: policy,
      auth: user !== undefined ? { type: 'username', username: user, password: secretOf(readFileSync(pwFile!, 'utf8')) } : { type: 'anonymous' },
      requestTimeoutMs: 10_000,
      sessionTimeoutMs: 60_000,
    },
    pkiDir,
    root: flag(args, '--root') ?? '/Objects',
    depth: int('--depth', 5),
    max: int('--max', 5000),
    ...(filter ? { filter } : {}),
  };
  // node-opcua loads only for the commands that use it.
  await loadClientModule();
  const { discover, discoveryYaml } = await import('../../sources/opcua/discover.js');
  let r;
  try {
    r = await discover(o);
  } catch (err) {
    const d = describeFailure(err);
    process.stderr.write(
      `discover: ${endpoint}: ${d.reason}${d.untrusted ? ` (see ${join(pkiDir, 'rejected')}; trust it with fieldgate pki trust FILE${typeof args.flags.get('-c') === 'string' ? ` -c ${String(args.flags.get('-c'))}` : ''})` : ''}\n`,
    );
    return EXIT.failure;
  }
  process.stdout.write(discoveryYaml(o, r));
  return EXIT.ok;
}
