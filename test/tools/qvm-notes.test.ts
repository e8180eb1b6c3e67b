// qvm-notes (qubes-core-admin-client qubesadmin/tools/qvm_notes.py; core
// qubes/vm/qubesvm.py get_notes/set_notes, api/admin.py vm_notes_set): the
// notes file in the qube's directory, each action, what is stored (size
// limit, UTF-8, characters unsafe to display replaced), and qvm-clone copying
// the notes.
import { describe, expect, test } from '@jest/globals';
import fs from 'node:fs';
import path from 'node:path';
import { run, tmpStore, tmpStoreLocalPools, type TmpStore } from '../helpers.js';

const notesFile = (s: TmpStore, vm: string) => path.join(s.dir, 'appvms', vm, 'notes.txt');
const notes = (s: TmpStore, vm: string) => run('qvm-notes', [vm, '--print'], s.env);

describe('qvm-notes', () => {
  test('--set, --append, --print, --import: stored as appvms/NAME/notes.txt', () => {
    const s = tmpStore('qubes-xml/q10.xml');
    expect(notes(s, 'vm0001')).toEqual({ code: 0, stdout: '\n', stderr: '' });
    expect(run('qvm-notes', ['vm0001', '-s', 'Project X'], s.env)).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(fs.readFileSync(notesFile(s, 'vm0001'), 'utf8')).toBe('Project X');
    expect(run('qvm-notes', ['vm0001', '--append', 'data from the old laptop'], s.env).code).toBe(0);
    expect(run('qvm-notes', ['-p', 'vm0001'], s.env)).toEqual({ code: 0, stdout: 'Project X\ndata from the old laptop\n', stderr: '' });
    // no newline is added after a line that is already ended
    fs.writeFileSync(notesFile(s, 'vm0001'), 'ended\n');
    expect(run('qvm-notes', ['vm0001', '--append', 'next'], s.env).code).toBe(0);
    expect(fs.readFileSync(notesFile(s, 'vm0001'), 'utf8')).toBe('ended\nnext');
    const file = path.join(s.dir, 'imported.txt');
    fs.writeFileSync(file, 'line 1\n\tline 2\n');
    expect(run('qvm-notes', ['vm0001', '-i', file], s.env).code).toBe(0);
    expect(fs.readFileSync(notesFile(s, 'vm0001'), 'utf8')).toBe('line 1\n\tline 2\n');
    // a template's notes live in vm-templates/
    expect(run('qvm-notes', ['fedora-41', '--set', 'base'], s.env).code).toBe(0);
    expect(fs.readFileSync(path.join(s.dir, 'vm-templates', 'fedora-41', 'notes.txt'), 'utf8')).toBe('base');
  });

  test('characters unsafe to display become _, tab and newline stay; over 256000 bytes or not UTF-8 is refused and nothing changes', () => {
    const s = tmpStore('qubes-xml/q10.xml');
    expect(run('qvm-notes', ['vm0001', '-s', 'Grüße, Ελλάδα, Россия, 日本語 ok\tcolumn\r\n\u202etxt.exe 😀 \u00a0שלום \u061fx'], s.env).code).toBe(0);
    expect(fs.readFileSync(notesFile(s, 'vm0001'), 'utf8')).toBe('Grüße, Ελλάδα, Россия, 日本語 ok\tcolumn_\n_txt.exe _ _____ _x');
    const before = fs.readFileSync(notesFile(s, 'vm0001'));
    const big = path.join(s.dir, 'big');
    fs.writeFileSync(big, 'a'.repeat(256001));
    expect(run('qvm-notes', ['vm0001', '--import', big], s.env)).toEqual({ code: 1, stdout: '', stderr: 'qvm-notes: error: Notes are limited to 256000 bytes (256001 given)\n' });
    const bad = path.join(s.dir, 'bad');
    fs.writeFileSync(bad, Buffer.from([0x61, 0xff, 0x62]));
    expect(run('qvm-notes', ['vm0001', '--import', bad], s.env)).toEqual({ code: 1, stdout: '', stderr: 'qvm-notes: error: Notes must be UTF-8 text\n' });
    expect(fs.readFileSync(notesFile(s, 'vm0001')).equals(before)).toBe(true);
    fs.writeFileSync(big, 'a'.repeat(256000));
    expect(run('qvm-notes', ['vm0001', '--import', big], s.env).code).toBe(0);
  });

  test('editing is the default: $VISUAL, else $EDITOR, runs on a copy; stored only when changed, kept when the editor fails', () => {
    const s = tmpStore('qubes-xml/q10.xml');
    expect(run('qvm-notes', ['vm0001', '-s', 'old text'], s.env).code).toBe(0);
    expect(run('qvm-notes', ['vm0001'], { ...s.env, TMPDIR: s.dir, VISUAL: 'sed -i s/old/new/', EDITOR: 'false' })).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(notes(s, 'vm0001').stdout).toBe('new text\n');
    expect(run('qvm-notes', ['vm0001', '-e'], { ...s.env, TMPDIR: s.dir, EDITOR: 'sed -i s/new/newer/' }).code).toBe(0);
    expect(notes(s, 'vm0001').stdout).toBe('newer text\n');
    // an editor that leaves the file alone: nothing is written (a later edit of the file is not overwritten)
    fs.writeFileSync(notesFile(s, 'vm0001'), 'changed meanwhile');
    expect(run('qvm-notes', ['vm0001'], { ...s.env, TMPDIR: s.dir, EDITOR: 'true' }).code).toBe(0);
    expect(fs.readFileSync(notesFile(s, 'vm0001'), 'utf8')).toBe('changed meanwhile');
    const failing = path.join(s.dir, 'failing-editor');
    fs.writeFileSync(failing, '#!/bin/sh\necho x >> "$1"\nexit 3\n', { mode: 0o755 });
    expect(run('qvm-notes', ['vm0001'], { ...s.env, TMPDIR: s.dir, VISUAL: failing })).toEqual({
      code: 1,
      stdout: '',
      stderr: 'qvm-notes: error: The editor failed (exit status 3); the notes are unchanged\n',
    });
    expect(fs.readFileSync(notesFile(s, 'vm0001'), 'utf8')).toBe('changed meanwhile');
    // the copy is made in TMPDIR, named after the qube, and removed afterwards
    const recording = path.join(s.dir, 'recording-editor');
    fs.writeFileSync(recording, `#!/bin/sh\necho "$1" > ${s.dir}/edited-path\n`, { mode: 0o755 });
    expect(run('qvm-notes', ['vm0001'], { ...s.env, TMPDIR: s.dir, EDITOR: recording }).code).toBe(0);
    const edited = fs.readFileSync(path.join(s.dir, 'edited-path'), 'utf8').trim();
    expect(edited.startsWith(`${s.dir}/vm0001_qube_`) && edited.endsWith('/vm0001_notes.txt')).toBe(true);
    expect(fs.existsSync(edited)).toBe(false);
    expect(fs.readdirSync(s.dir).filter((f) => f.includes('_qube_'))).toEqual([]);
  });

  test('--delete asks (anything but y keeps the notes, exit 2); --force does not', () => {
    const s = tmpStore('qubes-xml/q10.xml');
    expect(run('qvm-notes', ['vm0001', '-s', 'keep me'], s.env).code).toBe(0);
    const asked = run('qvm-notes', ['vm0001', '-d'], s.env, 'n\n');
    expect(asked.code).toBe(2);
    expect(asked.stdout).toContain('Are you certain? [y/N]');
    expect(notes(s, 'vm0001').stdout).toBe('keep me\n');
    expect(run('qvm-notes', ['vm0001', '--delete'], s.env, 'y\n').code).toBe(0);
    expect(notes(s, 'vm0001').stdout).toBe('\n');
    expect(run('qvm-notes', ['vm0001', '-s', 'again'], s.env).code).toBe(0);
    expect(run('qvm-notes', ['-f', 'vm0001', '-d'], s.env)).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(fs.readFileSync(notesFile(s, 'vm0001'), 'utf8')).toBe('');
  });

  test('errors: one line; two actions or an unknown qube are usage errors; dom0 has no notes', () => {
    const s = tmpStore('qubes-xml/q10.xml');
    expect(run('qvm-notes', ['vm0001', '-p', '-s', 'x'], s.env)).toEqual({
      code: 2,
      stdout: '',
      stderr: 'qvm-notes: error: only one of --edit, --print, --import, --set, --append and --delete may be given\n',
    });
    expect(run('qvm-notes', ['nosuch', '-p'], s.env)).toEqual({ code: 2, stdout: '', stderr: "qvm-notes: error: no such domain: 'nosuch'\n" });
    expect(run('qvm-notes', ['dom0', '-s', 'x'], s.env)).toEqual({
      code: 1,
      stdout: '',
      stderr: 'qvm-notes: error: dom0 has no notes (only qubes that run on this machine have them)\n',
    });
    expect(run('qvm-notes', ['vm0001', '-i', path.join(s.dir, 'missing')], s.env)).toEqual({
      code: 1,
      stdout: '',
      stderr: `qvm-notes: error: Cannot read ${path.join(s.dir, 'missing')}: no such file or directory\n`,
    });
  });

  test('qvm-clone copies the notes; a qube without notes gives a clone without a notes file', () => {
    const s = tmpStoreLocalPools('qubes-xml/q10.xml');
    expect(run('qvm-create', ['-l', 'red', 'src'], s.env).code).toBe(0);
    expect(run('qvm-clone', ['src', 'plain'], s.env).code).toBe(0);
    expect(fs.existsSync(notesFile(s, 'plain'))).toBe(false);
    expect(run('qvm-notes', ['src', '-s', 'cloned notes\nline 2'], s.env).code).toBe(0);
    expect(run('qvm-clone', ['src', 'copy'], s.env)).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(notes(s, 'copy').stdout).toBe('cloned notes\nline 2\n');
  });
});
