import { sinkConfigs } from '../../config/schema.js';
import { EXIT, type Args, configOf } from '../args.js';

import { FgError } from '../../core/errors.js';
import { compileSelects } from '../../core/glob.js';
import { fillTopic } from '../../partners/format.js';
import { runQuery } from './query.js';

/**
 * `partners preview`: which devices and tags in the store each partner's send entries select,
 * and which never leave, before anything is enabled.
 */
export async function partners(args: Args): Promise<number> {
  if (args.rest[0] !== 'preview') throw new FgError('FG_E_USAGE', 'partners takes preview: fieldgate partners preview -c FILE [NAME] [--json]');
  const cfg = configOf(args);
  const name = args.rest[1];
  const list = name === undefined ? cfg.partners : cfg.partners.filter((p) => p.name === name);
  if (!list.length)
    throw new FgError(
      'FG_E_USAGE',
      name === undefined
        ? `${args.flags.get('-c')} configures no partners`
        : `no partner named ${JSON.stringify(name)} (configured: ${cfg.partners.map((p) => p.name).join(', ') || 'none'})`,
    );
  const ch = sinkConfigs(cfg)[0].clickhouse;
  const db = `\`${ch.database}\`.\`${ch.table}\``;
  const rows = (
    await runQuery(cfg, `SELECT device, tag, count() FROM ${db} WHERE source NOT LIKE 'partner:%' GROUP BY device, tag ORDER BY device, tag`, 'JSONCompact')
  ).toString('utf8');
  const pairs = (JSON.parse(rows) as { data: Array<[string, string, string | number]> }).data.map(([device, tag, n]) => ({ device, tag, values: Number(n) }));
  const report = list.map((p) => {
    const entries = p.send.map((e) => compileSelects(e.select));
    const sent: Array<{ device: string; tag: string; values: number; entries: number[]; topics: string[] }> = [];
    const withheld: Array<{ device: string; tag: string; values: number }> = [];
    for (const x of pairs) {
      const hit = entries.flatMap((m, i) => (m(x.device, x.tag) ? [i] : []));
      if (hit.length)
        sent.push({
          ...x,
          entries: hit.map((i) => i + 1),
          topics: hit.map((i) =>
            p.send[i].format === 'sparkplug'
              ? `spBv1.0/${p.sparkplug.group_id}/DDATA/${p.sparkplug.edge_node_id || '<gateway_id>'}/${x.device}`
              : fillTopic(p.send[i].topic, { gateway: cfg.gateway_id || '<gateway_id>', partner: p.name, device: x.device, tag: x.tag }),
          ),
        });
      else withheld.push(x);
    }
    return { partner: p.name, enabled: p.enabled, target: p.broker?.url ?? p.webhook!.url, receive: p.receive.map((r) => r.topic), sent, withheld };
  });
  if (args.flags.has('--json')) {
    process.stdout.write(JSON.stringify(report, null, 2) + '\n');
    return EXIT.ok;
  }
  const out: string[] = [];
  for (const r of report) {
    out.push(`partner ${r.partner} → ${r.target}${r.enabled ? '' : ' (enabled: false)'}`);
    if (!pairs.length) out.push('  the store holds no values yet: nothing to compare the selects with');
    for (const x of r.sent) out.push(`  SENT      ${x.device}  ${x.tag}  (${x.values} values stored; entry ${x.entries.join(', ')} → ${x.topics.join(', ')})`);
    for (const x of r.withheld) out.push(`  withheld  ${x.device}  ${x.tag}  (${x.values} values stored)`);
    out.push(`  ${r.sent.length} of ${pairs.length} device/tag pairs in the store are sent; ${r.withheld.length} never leave.`);
    if (r.receive.length) out.push(`  received from the partner: ${r.receive.join(', ')} (stored with source partner:${r.partner})`);
    out.push('');
  }
  process.stdout.write(out.join('\n'));
  return EXIT.ok;
}
