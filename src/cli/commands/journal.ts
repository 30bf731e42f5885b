import { EXIT, type Args, configOf } from '../args.js';

import { FgError } from '../../core/errors.js';
import { consumers } from '../../pipeline/gateway.js';
import { lockHolderText, tryLockStateDir } from '../lock.js';
import { checkJournal, repairJournal } from '../../journal/check.js';

export async function journalCmd(args: Args): Promise<number> {
  if (args.rest[0] !== 'check') throw new FgError('FG_E_USAGE', 'journal takes check, e.g. fieldgate journal check -c FILE [--repair]');
  const cfg = configOf(args);
  const unlock = await tryLockStateDir(cfg.state_dir);
  try {
    const r = checkJournal(cfg.state_dir, consumers(cfg).names, cfg.journal.fsync === 'always');
    if (args.flags.has('--json')) process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
    else {
      const out: string[] = [
        `journal ${r.dir}${r.identity ? ` (identity ${r.identity})` : ''}${unlock ? '' : `, in use by fieldgate (${lockHolderText(cfg.state_dir)})`}`,
      ];
      out.push(
        `  ${r.segments.length} segment(s), ${r.segments.reduce((x, s) => x + s.bytes, 0)} bytes, ${r.records} record(s) in the scanned segments, ${r.chunks} chunk(s), end at position ${r.end}`,
      );
      for (const s of r.segments) out.push(`  segment ${s.file}: base ${s.base}, ${s.bytes} bytes, ${s.records} record(s)`);
      if (r.tornTailBytes) out.push(`  torn tail: ${r.tornTailBytes} bytes`);
      for (const d of r.damage)
        out.push(`  damaged: ${d.segment} at position ${d.start}, ${d.bytes} bytes, ${d.exact ? '' : 'at least '}${d.records} record(s) lost`);
      for (const c of r.cursors)
        out.push(
          `  cursor ${c.sink}: ${c.state ? `position ${c.state.position} (chunk ${c.state.chunk})` : '-'}: ${c.verdict}${c.detail ? ` (${c.detail})` : ''}`,
        );
      out.push('a start would:', ...r.actions.map((x) => `  ${x}`));
      process.stdout.write(`${out.join('\n')}\n`);
    }
    if (args.flags.has('--repair') && r.refuse) {
      if (!unlock)
        throw new FgError('FG_E_STATE_LOCKED', `state_dir ${cfg.state_dir} is in use by fieldgate (${lockHolderText(cfg.state_dir)}); stop it before --repair`);
      for (const line of repairJournal(cfg.state_dir, r)) process.stdout.write(`repaired: ${line}\n`);
      return EXIT.ok;
    }
    return r.refuse ? EXIT.journal : EXIT.ok;
  } finally {
    await unlock?.();
  }
}
