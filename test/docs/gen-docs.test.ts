// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * The generated documentation: current, complete, and in agreement with
 * package.json and the command specs. `npm run build` must have run.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ROOT, run } from '../helpers.js';
import { COMMANDS, loadSpec } from '../../lib/tools/registry.js';
import { allSpecOptions, COMMON_OPTIONS } from '../../lib/tools/common/spec.js';

const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string> };
const BIN = Object.keys(pkg.bin);
const COMPLETION = path.join(ROOT, 'completions', 'qubes-tools.bash');

/** The man pages of a command: man/CMD.SECTION (1, or 8 for the daemons). */
const manPages = (cmd: string) => fs.readdirSync(path.join(ROOT, 'man')).filter((f) => /\.[1-9]$/.test(f) && f.slice(0, -2) === cmd);

/** Man page text with roff escapes undone, enough to find option names. */
const manText = (cmd: string) =>
  fs.readFileSync(path.join(ROOT, 'man', manPages(cmd)[0] as string), 'utf8').replace(/\\f[BIRP]/g, '').replace(/\\-/g, '-').replace(/\\e/g, '\\');

const longestFlag = (flags: string) =>
  flags
    .split(/[ ,|]+/)
    .filter((f) => f.startsWith('-'))
    .sort((a, b) => b.length - a.length)[0] as string;

describe('gen-docs', () => {
  test('generated files are current (node dist/scripts/gen-docs.js --check)', () => {
    const r = spawnSync(process.execPath, [path.join(ROOT, 'dist', 'scripts', 'gen-docs.js'), '--check'], { cwd: ROOT, encoding: 'utf8' });
    expect(r.stderr).not.toMatch(/out of date/);
    expect(r.status).toBe(0);
  });

  test('registry COMMANDS equals the bin entries of package.json', () => {
    expect([...COMMANDS].sort()).toEqual([...BIN].sort());
  });

  test.each(BIN)('%s has a module, a man page and a completion', (cmd) => {
    expect(fs.existsSync(path.join(ROOT, 'lib', 'tools', `${cmd}.ts`))).toBe(true);
    expect(manPages(cmd)).toHaveLength(1);
    const completion = fs.readFileSync(COMPLETION, 'utf8');
    expect(completion).toMatch(new RegExp(`^complete -F \\S+ ${cmd.replace(/[-]/g, '\\-')}$`, 'm'));
  });

  test('the daemons have their page in section 8, the other commands in section 1, as .TH says', () => {
    for (const cmd of BIN) {
      const page = manPages(cmd)[0] as string;
      const section = cmd.endsWith('-daemon') || cmd === 'qubesd' ? '8' : '1';
      expect(page).toBe(`${cmd}.${section}`);
      expect(manText(cmd)).toMatch(new RegExp(`^\\.TH "[^"]+" "${section}"`, 'm'));
    }
  });

  test.each(BIN.filter((c) => fs.existsSync(path.join(ROOT, 'lib', 'tools', `${c}.ts`))))(
    '%s: every visible option is in the man page',
    async (cmd) => {
      const spec = await loadSpec(cmd);
      const man = manText(cmd);
      expect(man).toMatch(/^\.TH "/m);
      expect(man).toContain(`${cmd} - ${spec.summary}`);
      for (const o of [...allSpecOptions(spec), ...COMMON_OPTIONS]) {
        const flag = longestFlag(o.flags);
        if (o.hidden) expect(man).not.toContain(flag);
        else expect(man).toContain(flag);
        for (const c of o.hidden ? [] : (o.choices ?? [])) expect(man).toContain(c);
      }
      for (const a of [...spec.args, ...(spec.subcommands ?? []).flatMap((s) => s.args)]) expect(man).toContain(a.name);
      for (const s of spec.subcommands ?? []) for (const w of [s.name, ...(s.aliases ?? [])]) expect(man).toContain(w);
    },
  );
});

describe('--version', () => {
  test('every command prints the package version', async () => {
    const { VERSION } = await import('../../lib/version.js');
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string; bin: Record<string, string> };
    expect(VERSION).toBe(pkg.version);
    for (const name of Object.keys(pkg.bin)) {
      const r = run(name, ['--version'], { ...process.env, QUBES_XML_PATH: '/nonexistent/qubes.xml' });
      expect(r).toEqual({ code: 0, stdout: `${name} (qubes-dom0-tools) ${pkg.version}\n`, stderr: '' });
    }
  });
});
