// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * A qube's firewall.xml on disk: where it is, reading it (a qube without
 * the file has the single rule `action=accept`), and saving it atomically
 * (temporary file, fsync, rename, directory fsync; mode 0664) with expired
 * rules left out.
 *
 * Reference: qubes-core-admin: qubes/firewall.py (Firewall.load,
 * load_defaults, save), qubes/vm/mix/net.py (has_firewall);
 * shared/spec/firewall-and-devices.md A1, A4.1.
 */
import fs from 'node:fs';
import path from 'node:path';
import { QubesError } from '../errors.js';
import { replaceFile, syncDir } from '../util/atomic-write.js';
import { ioReason } from '../util/io-error.js';
import { qubeDirPath } from '../vm/qube-dir.js';
import { activeRules } from './expiry.js';
import { parseFirewallXml, serializeFirewallXml } from './firewall-xml.js';
import { ACCEPT_ALL, type Rule } from './rule.js';

/** Default of the qube property `firewall_conf`. */
export const FIREWALL_CONF = 'firewall.xml';

/**
 * `«qube dir»/firewall.xml` (`appvms/NAME/` or `vm-templates/NAME/` under the base directory).
 * @throws QubesError for dom0, which has no firewall
 */
export function firewallPath(baseDir: string, vm: { klass: string; name: string; props: ReadonlyMap<string, string> }): string {
  const dir = qubeDirPath(baseDir, vm);
  if (dir === undefined) throw new QubesError(`${vm.name} has no firewall`);
  return path.join(dir, vm.props.get('firewall_conf') || FIREWALL_CONF);
}

/** Whether rules were ever stored (a missing file means the default rule). */
export const hasFirewallFile = (file: string): boolean => fs.existsSync(file);

/**
 * The stored rules, expired ones included; `[action=accept]` without a file.
 * @throws QubesError when the file cannot be read or is not valid
 */
export function loadRules(file: string): Rule[] {
  let src: string;
  try {
    src = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [ACCEPT_ALL];
    throw new QubesError(`Cannot read ${file}: ${ioReason(e)}`);
  }
  try {
    return parseFirewallXml(src);
  } catch (e) {
    throw new QubesError(`${file}: ${(e as Error).message}`);
  }
}

/**
 * Replace the file with `rules` minus the expired ones, creating the
 * qube's directory if needed. Returns the rules written.
 * @throws QubesError `firewall save error: …`; the old file is then unchanged
 */
export function saveRules(file: string, rules: readonly Rule[], nowMs: number): Rule[] {
  const kept = activeRules(rules, nowMs);
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    replaceFile(file, serializeFirewallXml(kept), { mode: 0o664 });
    syncDir(path.dirname(file));
  } catch (e) {
    throw new QubesError(`firewall save error: ${file}: ${ioReason(e)}`);
  }
  return kept;
}
