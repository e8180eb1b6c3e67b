// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * User overrides of the domain XML, found where the reference looks:
 * `libvirt/<flavour>/by-name/<qube>.xml`, then `libvirt/<flavour>-user.xml`,
 * then `libvirt/<flavour>-dist.xml`, each in /etc/qubes/templates before
 * /usr/share/qubes/templates (`QUBES_TEMPLATE_PATH`, colon-separated,
 * replaces that list). The flavour is `xen`, or `qemu` for the QEMU
 * template.
 *
 * The reference's overrides are Jinja templates that usually extend the
 * stock one and replace a block. The part of Jinja understood here is what
 * such overrides use:
 *
 *   {% extends 'libvirt/xen.xml' %}      the built-in template (or another override file)
 *   {% block NAME %}…{% endblock %}      replace a block (basic, cpu, os, features,
 *                                        clock, on, devices, network)
 *   {{ super() }}                         the replaced block's own content
 *   {{ vm.PROPERTY }}                     a property of the qube (XML-escaped)
 *   {# comment #}, and `-` for trimming whitespace in any tag
 *
 * A file without `extends` is the whole domain XML (with the same
 * substitutions). Any other construct (`if`, `for`, filters, …) is refused
 * with an error naming the file: a half-understood template must not
 * produce a domain quietly different from what its author wrote.
 *
 * Reference: qubes-core-admin qubes/vm/__init__.py create_config_file;
 * shared/spec/vmm.md §2.1.
 */
import fs from 'node:fs';
import path from 'node:path';
import { QubesError } from '../../errors.js';
import { parseLibvirtUri } from '../libvirt/uri.js';
import { expand, type Segment } from './template.js';

export type Flavour = 'xen' | 'qemu';

/** The template a connection URI gets: QEMU's for `qemu://`, else Xen's (`test://` parses Xen XML). */
export const flavourFor = (uri: string): Flavour => (parseLibvirtUri(uri).driver === 'qemu' ? 'qemu' : 'xen');

type Node = { text: string } | { expr: string } | { super: true } | { block: string; body: Node[] };

interface Layer {
  file: string;
  defs: Map<string, Node[]>;
}


/** The override file in effect for a qube, if any. */
export function findOverride(dirs: string[], flavour: Flavour, vmName: string): string | undefined {
  for (const rel of [`libvirt/${flavour}/by-name/${vmName}.xml`, `libvirt/${flavour}-user.xml`, `libvirt/${flavour}-dist.xml`]) {
    const f = findIn(dirs, rel);
    if (f) return f;
  }
  return undefined;
}

function findIn(dirs: string[], rel: string): string | undefined {
  for (const d of dirs) {
    const f = path.join(d, rel);
    if (fs.existsSync(f)) return f;
  }
  return undefined;
}

const TAG = /\{#[\s\S]*?#\}|\{%(-?)([\s\S]*?)(-?)%\}|\{\{(-?)([\s\S]*?)(-?)\}\}/g;

class TemplateError extends QubesError {
  override name = 'TemplateError';
}

function parse(src: string, file: string): { extends?: string; nodes: Node[] } {
  const stack: { block?: string; body: Node[] }[] = [{ body: [] }];
  let parent: string | undefined;
  let last = 0;
  let trimNext = false;
  const top = () => stack[stack.length - 1] as { block?: string; body: Node[] };
  const fail = (what: string) => new TemplateError(`${file}: ${what}`);
  for (const m of src.matchAll(TAG)) {
    let text = src.slice(last, m.index);
    if (trimNext) text = text.replace(/^\s+/, '');
    const trimBefore = m[1] === '-' || m[4] === '-';
    if (trimBefore) text = text.replace(/\s+$/, '');
    if (text) top().body.push({ text });
    last = (m.index ?? 0) + m[0].length;
    trimNext = m[3] === '-' || m[6] === '-';
    if (m[0].startsWith('{#')) continue;
    if (m[5] !== undefined) {
      const expr = m[5].trim();
      if (expr === 'super()') top().body.push({ super: true });
      else if (/^vm\.[A-Za-z_][A-Za-z0-9_]*$/.test(expr)) top().body.push({ expr: expr.slice(3) });
      else throw fail(`unsupported expression '{{ ${expr} }}' (only vm.PROPERTY and super() are understood)`);
      continue;
    }
    const stmt = (m[2] ?? '').trim();
    let s: RegExpExecArray | null;
    if ((s = /^extends\s+(['"])([^'"]+)\1$/.exec(stmt))) {
      if (parent !== undefined || stack.length > 1) throw fail('extends must come once, before any block');
      parent = s[2];
    } else if ((s = /^block\s+([A-Za-z_]\w*)$/.exec(stmt))) {
      const b = { block: s[1] as string, body: [] as Node[] };
      top().body.push(b);
      stack.push(b);
    } else if ((s = /^endblock(?:\s+([A-Za-z_]\w*))?$/.exec(stmt))) {
      const open = top();
      if (!open.block) throw fail('endblock without block');
      if (s[1] && s[1] !== open.block) throw fail(`endblock ${s[1]} closes block ${open.block}`);
      stack.pop();
    } else throw fail(`unsupported template statement '{% ${stmt} %}' (only extends and block are understood)`);
  }
  if (stack.length > 1) throw fail(`block ${top().block} is not closed`);
  let rest = src.slice(last);
  if (trimNext) rest = rest.replace(/^\s+/, '');
  if (rest) top().body.push({ text: rest });
  return { extends: parent, nodes: (stack[0] as { body: Node[] }).body };
}

function collectDefs(nodes: Node[], into: Map<string, Node[]> = new Map()): Map<string, Node[]> {
  for (const n of nodes)
    if ('block' in n) {
      into.set(n.block, n.body);
      collectDefs(n.body, into);
    }
  return into;
}

export interface RenderContext {
  /** A property's text (already XML-escaped). @throws for an unknown property */
  value(name: string): string;
}

function renderNodes(nodes: Node[], ctx: RenderContext, sup: (() => string) | undefined, file: string, inner: (name: string, body: Node[]) => string): string {
  let out = '';
  for (const n of nodes) {
    if ('text' in n) out += n.text;
    else if ('expr' in n) out += ctx.value(n.expr);
    else if ('super' in n) {
      if (!sup) throw new TemplateError(`${file}: super() outside a block that replaces one`);
      out += sup();
    } else out += inner(n.block, n.body);
  }
  return out;
}

/**
 * The domain XML from an override file and the built-in template.
 * @throws QubesError for an unreadable or unsupported template
 */
export function renderOverride(file: string, dirs: string[], flavour: Flavour, builtin: Segment[], ctx: RenderContext): string {
  const base = `libvirt/${flavour}.xml`;
  const layers: Layer[] = [];
  let current: string | undefined = file;
  let full: { nodes: Node[]; file: string } | undefined;
  while (current) {
    if (layers.length > 8) throw new TemplateError(`${file}: templates extend each other too deeply`);
    let src: string;
    try {
      src = fs.readFileSync(current, 'utf8');
    } catch (e) {
      throw new TemplateError(`Cannot read domain template ${current}: ${(e as Error).message}`);
    }
    const t = parse(src, current);
    if (t.extends === undefined) {
      full = { nodes: t.nodes, file: current };
      break;
    }
    layers.push({ file: current, defs: collectDefs(t.nodes) });
    if (t.extends === base) break;
    const next = findIn(dirs, t.extends);
    if (!next) throw new TemplateError(`${current}: extends '${t.extends}', which is neither ${base} nor a file in ${dirs.join(', ')}`);
    current = next;
  }

  // the block `name` as the layers from `i` on define it, down to `original`
  const blockText = (i: number, name: string, original: () => string): string => {
    for (let j = i; j < layers.length; j++) {
      const body = (layers[j] as Layer).defs.get(name);
      if (body) return renderNodes(body, ctx, () => blockText(j + 1, name, original), (layers[j] as Layer).file, (n) => blockText(0, n, () => ''));
    }
    return original();
  };

  if (full) {
    const f = full;
    // a complete file; layers above it may still replace its blocks
    const inline = (name: string, body: Node[]): string =>
      blockText(0, name, () => renderNodes(body, ctx, undefined, f.file, inline));
    return renderNodes(f.nodes, ctx, undefined, f.file, inline);
  }
  return expand(builtin, (name, original) => blockText(0, name, original));
}
