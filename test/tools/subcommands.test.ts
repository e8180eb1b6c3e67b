// Parsing of commands with subcommands (lib/tools/common/program.ts): the
// word picks the subcommand (aliases, default), options are checked per
// subcommand, argument counts per subcommand, negative numbers stay words.
import { runTool } from '../../lib/tools/common/program.js';
import type { CommandSpec } from '../../lib/tools/common/spec.js';

const spec: CommandSpec = {
  name: 'qvm-demo',
  summary: 'demo',
  args: [{ name: 'VMNAME', description: 'qube' }],
  options: [{ flags: '--raw', description: 'raw' }],
  defaultSubcommand: 'list',
  subcommands: [
    { name: 'list', aliases: ['ls', 'l'], summary: 'list', args: [], options: [] },
    {
      name: 'set',
      aliases: ['s'],
      summary: 'set',
      args: [
        { name: 'KEY', description: 'k' },
        { name: 'VALUE', description: 'v', optional: true },
      ],
      options: [{ flags: '-f, --force', description: 'force' }],
    },
    { name: 'add', summary: 'add', args: [{ name: 'WORD', description: 'w', variadic: true }], options: [{ flags: '-f, --force', description: 'force' }] },
  ],
};

async function parse(argv: string[]) {
  let seen: { opts: Record<string, unknown>; args: string[] } | undefined;
  let out = '';
  let err = '';
  const code = await runTool(spec, argv, (opts: Record<string, unknown>, args) => void (seen = { opts, args }), {
    out: (s) => void (out += s),
    err: (s) => void (err += s),
    stdoutIsTTY: () => false,
    env: { QUBES_OFFLINE_MODE: '1' },
  });
  return { code, seen, out, err };
}

test('the default subcommand is inserted, aliases become the name', async () => {
  expect((await parse(['work'])).seen?.args).toEqual(['work', 'list']);
  expect((await parse(['work', 'ls'])).seen?.args).toEqual(['work', 'list']);
  expect((await parse(['--raw', 'work', 's', 'k', 'v'])).seen).toMatchObject({ args: ['work', 'set', 'k', 'v'], opts: { raw: true } });
});

test('options belong to their subcommand', async () => {
  expect((await parse(['work', 'set', '-f', 'k'])).seen?.opts.force).toBe(true);
  const r = await parse(['work', 'list', '--force']);
  expect(r.code).toBe(2);
  expect(r.err).toBe("qvm-demo: error: option --force is not valid with 'list'\n");
});

test('argument counts per subcommand', async () => {
  expect(await parse(['work', 'set'])).toMatchObject({ code: 2, err: 'qvm-demo: error: the following arguments are required: KEY\n' });
  expect(await parse(['work', 'list', 'x'])).toMatchObject({ code: 2, err: 'qvm-demo: error: unrecognized arguments: x\n' });
  expect(await parse(['work', 'bogus'])).toMatchObject({ code: 2, err: "qvm-demo: error: argument COMMAND: invalid choice: 'bogus' (choose from list, ls, l, set, s, add)\n" });
  expect((await parse(['work', 'add', 'a', 'b', 'c'])).seen?.args).toEqual(['work', 'add', 'a', 'b', 'c']);
});

test('a negative number is a positional, as argparse reads it', async () => {
  expect((await parse(['work', 'set', 'revisions_to_keep', '-1'])).seen?.args).toEqual(['work', 'set', 'revisions_to_keep', '-1']);
  expect((await parse(['work', 'set', '-x'])).code).toBe(2);
});

test('help lists the subcommands', async () => {
  const r = await parse(['-h']);
  expect(r.code).toBe(0);
  expect(r.out).toContain('set, s: set');
  expect(r.out).toContain('list, ls, l (default): list');
});
