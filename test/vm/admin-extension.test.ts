// The admin extension's rules for calls from qubes other than dom0 (the
// daemon will apply them): created-by-* tags are dom0's to change; the
// prohibited features are nobody's.
import { describe, expect, test } from '@jest/globals';
import fs from 'node:fs';
import { loadQubesXml } from '../../lib/app/qubes-xml-read.js';
import { PermissionDenied } from '../../lib/errors.js';
import { assertFeatureChangeAllowed, assertTagChangeAllowed, PROHIBITED_FEATURES } from '../../lib/vm/admin-extension.js';
import { OfflineVmm } from '../../lib/vmm/offline-vmm.js';
import { vector } from '../helpers.js';

const app = loadQubesXml(fs.readFileSync(vector('qubes-xml/q10.xml'), 'utf8'), 'q10', new OfflineVmm(), '/v');

describe('admin extension rules', () => {
  test('a qube other than dom0 may not add or remove created-by-* tags; other tags, and dom0, may', () => {
    const mgmt = app.domains.get('sys-net')!;
    expect(() => assertTagChangeAllowed(mgmt, 'created-by-sys-net')).toThrow(PermissionDenied);
    expect(() => assertTagChangeAllowed(mgmt, 'created-by-dom0')).toThrow('Only dom0 may add or remove created-by-* tags');
    expect(() => assertTagChangeAllowed(mgmt, 'project-x')).not.toThrow();
    expect(() => assertTagChangeAllowed(mgmt, 'disp-created-by-x')).not.toThrow();
    expect(() => assertTagChangeAllowed(app.adminVm!, 'created-by-sys-net')).not.toThrow();
  });

  test('the prohibited features are the reference list, refused for every caller', () => {
    expect(PROHIBITED_FEATURES).toEqual(['deferred-netvm-original', 'preload-dispvm', 'preload-dispvm-completed', 'preload-dispvm-in-progress']);
    for (const f of PROHIBITED_FEATURES) expect(() => assertFeatureChangeAllowed(f)).toThrow(PermissionDenied);
    for (const f of ['preload-dispvm-max', 'preload-dispvm-delay', 'x-preload-dispvm']) expect(() => assertFeatureChangeAllowed(f)).not.toThrow();
  });
});
