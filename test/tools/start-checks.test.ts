// What refuses a start before any work (qubes-core-admin qubes/vm/qubesvm.py
// start, qubes/ext/backup_restore.py): a qube being restored (tag
// backup-restore-in-progress), after the prohibit-start feature. Offline, a start
// that passes these checks fails later, at the hypervisor.
import { describe, expect, test } from '@jest/globals';
import { runIn, tmpStore } from '../helpers.js';

describe('qvm-start refusals', () => {
  test('the backup-restore-in-progress tag blocks the start with the reference message; without it the start goes on', async () => {
    const s = tmpStore('qubes-xml/q10.xml');
    expect((await runIn('qvm-tags', ['vm0001', 'add', 'backup-restore-in-progress'], s.env)).code).toBe(0);
    expect(await runIn('qvm-start', ['vm0001'], s.env)).toEqual({
      code: 1,
      stdout: '',
      stderr: 'qvm-start: error: Starting qube failed: vm0001: Restore of this domain in progress, cannot start\n',
    });
    expect((await runIn('qvm-tags', ['vm0001', 'del', 'backup-restore-in-progress'], s.env)).code).toBe(0);
    const r = await runIn('qvm-start', ['vm0001'], s.env);
    expect(r.code).toBe(1);
    expect(r.stderr).not.toContain('Restore');
    // prohibit-start is checked first, and says why
    expect((await runIn('qvm-tags', ['vm0001', 'add', 'backup-restore-in-progress'], s.env)).code).toBe(0);
    expect((await runIn('qvm-features', ['vm0001', 'prohibit-start', 'under analysis'], s.env)).code).toBe(0);
    expect((await runIn('qvm-start', ['vm0001'], s.env)).stderr).toBe('qvm-start: error: Starting qube failed: vm0001: Qube start is prohibited. Rationale: under analysis\n');
  });
});
