/** The JSON Schema and the example YAML, generated from the schema so they cannot drift. */
import type { SchemaNode } from '../core/schema.js';
import { rootSchema } from './schema.js';

export function jsonSchema(): string {
  const s = { $schema: 'https://json-schema.org/draft/2020-12/schema', $id: 'https://fieldgate.dev/fieldgate.schema.json', title: 'fieldgate', ...rootSchema.jsonSchema() };
  return JSON.stringify(s, null, 2) + '\n';
}

interface AnyNode extends SchemaNode<unknown> {
  fields?: Record<string, AnyNode>;
  required?: string[];
  item?: AnyNode;
  commentedExample?: boolean;
}

function wrap(text: string, indent: string): string[] {
  const out: string[] = [];
  let line = '';
  for (const w of text.split(/\s+/)) {
    if (line && line.length + w.length + 1 > 96 - indent.length) {
      out.push(`${indent}# ${line}`);
      line = w;
    } else line = line ? `${line} ${w}` : w;
  }
  if (line) out.push(`${indent}# ${line}`);
  return out;
}

function yamlValue(n: AnyNode): string | undefined {
  if (n.defaultText !== undefined) return n.defaultText;
  if (n.default === undefined) return undefined;
  return typeof n.default === 'string' ? JSON.stringify(n.default) : JSON.stringify(n.default);
}

function fieldLines(key: string, n: AnyNode, indent: string, required: boolean): string[] {
  const lines = wrap(n.description + (required ? ' (required)' : ''), indent);
  const j = n.jsonSchema() as { enum?: string[] };
  if (j.enum) lines.push(`${indent}# One of: ${j.enum.join(', ')}.`);
  if (n.kind === 'object' && n.fields) {
    lines.push(`${indent}${key}:`);
    lines.push(...objectLines(n, `${indent}  `));
    return lines;
  }
  if (n.kind === 'array') {
    const item = n.item;
    if (item?.kind === 'object' && item.fields) {
      lines.push(`${indent}# Each item:`);
      for (const [k, f] of Object.entries(item.fields)) {
        const d = yamlValue(f);
        const req = (item.required ?? []).includes(k) ? ' (required)' : d !== undefined ? ` (default ${d})` : '';
        lines.push(...wrap(`  ${k}: ${f.description}${req}`, indent));
      }
    }
    if (n.example) {
      const c = n.commentedExample ? '# ' : '';
      lines.push(`${indent}${c}${key}:`);
      for (const l of n.example.split('\n')) lines.push(`${indent}${c}  ${l}`);
    } else lines.push(`${indent}${key}: ${yamlValue(n) ?? '[]'}`);
    return lines;
  }
  const v = yamlValue(n);
  if (v !== undefined) lines.push(`${indent}${key}: ${v}`);
  else if (required) lines.push(`${indent}${key}: ${n.example ?? ''}`);
  else lines.push(`${indent}# ${key}: ${n.example ?? ''}`);
  return lines;
}

function objectLines(n: AnyNode, indent: string): string[] {
  const out: string[] = [];
  for (const [k, f] of Object.entries(n.fields ?? {})) {
    out.push(...fieldLines(k, f, indent, (n.required ?? []).includes(k)));
  }
  return out;
}

export function exampleYaml(): string {
  const head = [
    '# fieldgate: every configuration key, its default and what it does.',
    '# Generated from the schema beside each component (src/**/config.ts) by `npm run gen:config`; a test fails when it is stale.',
    '# Values may use ${VAR} or ${VAR:-default}; secrets can come from password_file.',
    '',
  ];
  const body: string[] = [];
  for (const [k, f] of Object.entries(rootSchema.fields)) {
    body.push(...fieldLines(k, f, '', rootSchema.required.includes(k)), '');
  }
  return [...head, ...body].join('\n');
}
