import { EXIT, type Args, configOf } from '../args.js';
import { readdirSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { FgError } from '../../core/errors.js';
import { loadClientModule } from '../../sources/opcua/vendor.js';

export async function pki(args: Args): Promise<number> {
  const cfg = configOf(args);
  const dir = join(cfg.state_dir, 'pki');
  const [sub, file] = args.rest;
  const { certificateSummary, trustCertificateFile } = await loadClientModule();
  if (sub === 'trust') {
    if (!file) throw new FgError('FG_E_USAGE', 'pki trust takes the certificate file, e.g. one printed by the gateway from pki/rejected');
    const t = await trustCertificateFile(dir, file);
    // Out of rejected/: it is trusted now, and a listing should not show it twice.
    if (resolve(dirname(file)) === resolve(join(dir, 'rejected'))) rmSync(file, { force: true });
    process.stdout.write(
      `trusted ${t.subject} (sha1 ${t.thumbprint}) in ${join(dir, 'trusted', 'certs')}; a running gateway uses it on its next connect attempt\n`,
    );
    return EXIT.ok;
  }
  if (sub === 'list') {
    for (const [label, d] of [
      ['trusted', join(dir, 'trusted', 'certs')],
      ['rejected', join(dir, 'rejected')],
    ] as const) {
      let names: string[] = [];
      try {
        names = readdirSync(d).filter((n) => /\.(pem|der)$/i.test(n));
      } catch {
        // none yet
      }
      for (const n of names) {
        const c = certificateSummary(join(d, n));
        process.stdout.write(`${label}\t${c.thumbprint}\t${c.subject}\tvalid to ${c.validTo}\t${join(d, n)}\n`);
      }
    }
    return EXIT.ok;
  }
  throw new FgError('FG_E_USAGE', 'pki takes trust FILE or list');
}
