// Stores written by the reference core itself (qubes-core-admin 4.4, run
// offline by ../shared/reference-core/ref-python; test/store/reference-store.py
// makes them) with a RemoteVM, boot modes, the servicevm icon, preloaded
// disposables and features only the system sets: ours reads them as the
// reference does (classes, icons, boot modes, RemoteVM properties), saves them
// back byte for byte, and what our commands write for a set of changes is the
// file the reference writes for the same changes, which the reference loads
// with the same content (its tools/ref-load.py).
// Needs Debian's python3-lxml, -jinja2, -docutils, -yaml and -pyinotify.
import { describe, expect } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT, run } from '../helpers.js';
import { testWithout } from '../needs.js';
import { REF, REF_PYTHON, referenceCoreMissing } from '../reference-core.js';

const SCRIPT = path.join(ROOT, 'test', 'store', 'reference-store.py');
const refEnv = { ...process.env, PYTHONHASHSEED: '0' };

const absent = referenceCoreMissing();

const ref = (...args: string[]): string => execFileSync(REF_PYTHON, args, { env: refEnv, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

interface RefView {
  class: string;
  icon: string;
  properties: string[];
  bootmode?: string;
  appvm_default_bootmode?: string;
  is_preload?: boolean;
}

/** A fresh reference-written store in its own base directory. */
function referenceStore(): { dir: string; xml: string; env: NodeJS.ProcessEnv } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qubes-refstore-'));
  ref(SCRIPT, 'make', dir);
  const xml = path.join(dir, 'qubes.xml');
  return { dir, xml, env: { ...process.env, QUBES_XML_PATH: xml, QUBES_BASE_DIR: dir, QUBES_OFFLINE_MODE: '1', NO_COLOR: '1' } };
}

const ok = (env: NodeJS.ProcessEnv, cmd: string, ...args: string[]) => expect(run(cmd, args, env)).toEqual({ code: 0, stdout: '', stderr: '' });

describe('stores written by the reference core', () => {
  testWithout(
    absent,
    'load as the reference reads them: classes, icons, boot modes, preloaded disposables, the RemoteVM properties; saved back byte for byte',
    () => {
      const s = referenceStore();
      try {
        const view = JSON.parse(ref(SCRIPT, 'view', s.xml)) as Record<string, RefView>;
        const fields = ['class', 'icon', 'bootmode', 'appvm_default_bootmode', 'is_preload'] as const;
        const listed = run('qvm-ls', ['--raw-data', '-O', `name,${fields.join(',')}`], s.env);
        expect(listed.code).toBe(0);
        const cell = (v: unknown) => (v === undefined || v === null || v === '' ? '-' : v === true ? 'True' : v === false ? 'False' : String(v));
        const expected = Object.keys(view)
          .sort()
          .map((name) => [name, ...fields.map((f) => cell(view[name]?.[f]))].join('|') + '\n')
          .join('');
        expect(listed.stdout).toBe(expected);
        for (const remote of ['remote-work', 'remote-plain']) {
          const names = run('qvm-prefs', [remote], s.env).stdout.trim().split('\n').map((l) => l.split(/\s+/)[0]);
          expect(names).toEqual(view[remote]?.properties);
        }
        const before = fs.readFileSync(s.xml, 'utf8');
        expect(before).toContain('class="RemoteVM"');
        expect(before).toContain('<feature name="preload-dispvm">disp11 disp12</feature>');
        ok(s.env, 'qvm-features', 'dom0', 'x-roundtrip', '1');
        ok(s.env, 'qvm-features', 'dom0', 'x-roundtrip', '--unset');
        expect(fs.readFileSync(s.xml, 'utf8')).toBe(before);
      } finally {
        fs.rmSync(s.dir, { recursive: true, force: true });
      }
    },
    120000,
  );

  testWithout(
    absent,
    'our commands write what the reference writes for the same changes, and the reference reads it with the same content',
    () => {
      const s = referenceStore();
      try {
        const theirs = path.join(s.dir, 'reference-changed.xml');
        fs.copyFileSync(s.xml, theirs);
        ref(SCRIPT, 'change', theirs);
        ok(s.env, 'qvm-prefs', 'remote-work', 'relayvm', 'work');
        ok(s.env, 'qvm-prefs', 'remote-work', 'remote_name', 'work-at-office');
        ok(s.env, 'qvm-prefs', 'remote-plain', 'relayvm', 'sys-relay');
        ok(s.env, 'qvm-prefs', 'remote-plain', 'include_in_backups', 'True');
        ok(s.env, 'qvm-prefs', 'fedora-42', 'appvm_default_bootmode', 'debug');
        ok(s.env, 'qvm-prefs', 'explicit', 'bootmode', 'debug');
        ok(s.env, 'qvm-features', 'sys-relay', 'boot-mode.active', 'nosmt');
        ok(s.env, 'qvm-features', 'standalone', 'x-note', 'kept');
        expect(fs.readFileSync(s.xml, 'utf8')).toBe(fs.readFileSync(theirs, 'utf8'));
        const load = (file: string) => JSON.parse(ref(path.join(REF, 'tools', 'ref-load.py'), file));
        const ours = load(s.xml);
        expect(ours).toEqual(load(theirs));
        expect(ours.domains['remote-work']).toMatchObject({ class: 'RemoteVM', props: { relayvm: 'work', remote_name: 'work-at-office' }, tags: ['relayvm-work'] });
        expect(ours.domains['explicit'].props.bootmode).toBe('debug');
        // and the reference computes the same boot modes and icons from it as we do
        const view = JSON.parse(ref(SCRIPT, 'view', s.xml)) as Record<string, RefView>;
        const listed = run('qvm-ls', ['--raw-data', '-O', 'name,bootmode,icon', 'explicit', 'sys-relay', 'work'], s.env).stdout;
        expect(listed).toBe(['explicit', 'sys-relay', 'work'].map((n) => `${n}|${view[n]?.bootmode}|${view[n]?.icon}\n`).join(''));
      } finally {
        fs.rmSync(s.dir, { recursive: true, force: true });
      }
    },
    120000,
  );
});
