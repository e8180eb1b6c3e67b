// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * The qrexec policy and the /etc/qubes-rpc entries, made from the method
 * table (gen-docs writes them under admin-api/; the Makefile installs
 * them). Only methods this daemon answers appear: a qube is never offered
 * a method that would only answer "no such method".
 *
 * - policy.d/90-admin-default.policy: one `!include-service METHOD *
 *   include/admin-SCOPE-ACCESS` line per method, ACCESS `rwx` for a method
 *   that writes or executes, else `ro`;
 * - policy.d/include/admin-{local,global}-{ro,rwx}: where an administrator
 *   grants a management qube its rights; each `ro` file includes its `rwx`
 *   one (who may change may read); they grant nothing as shipped;
 * - qubes-rpc-methods: the names that get an /etc/qubes-rpc entry, a
 *   symbolic link to qubesd.sock through which qrexec reaches the daemon
 *   (the volume import's entries are scripts, SCRIPT_SERVICES).
 *
 * Reference: qubes-core-admin: qubes-rpc-policy/generate-admin-policy,
 * qubes-rpc-policy/admin-*, Makefile (the qubes-rpc symbolic links);
 * shared/spec/vmm.md §5.1, §5.4.
 */
import { method, type MethodDecl } from './method.js';

export type PolicyInclude = `admin-${'local' | 'global'}-${'ro' | 'rwx'}`;

export const POLICY_INCLUDES: readonly PolicyInclude[] = ['admin-local-ro', 'admin-local-rwx', 'admin-global-ro', 'admin-global-rwx'];

/** The include file a method's policy line names. */
export const includeFor = (m: MethodDecl): PolicyInclude => `admin-${m.scope}-${m.write || m.execute ? 'rwx' : 'ro'}`;

/**
 * Methods never offered to qubes even when implemented: making another
 * AdminVM (the reference excludes these two from its generated policy).
 */
const NEVER_OFFERED = new Set(['admin.vm.Create.AdminVM', 'admin.vm.CreateInPool.AdminVM']);

/** The methods the policy and the qubes-rpc entries name, by name. */
export function offeredMethods(table: ReadonlyMap<string, MethodDecl>): MethodDecl[] {
  return [...table.values()].filter((m) => m.handler && !NEVER_OFFERED.has(m.name)).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

const DEFAULT_POLICY_HEADER = `## Generated from qubesd's method table (npm run gen-docs); do not edit.
## To change what a qube may call, write a policy file with a lower number,
## for example 30-admin-user.policy, or grant rights in the include files.
##
## Admin API calls change the system: allow them to trusted qubes only, and
## add "target=dom0" to every allow or ask rule.
##
## Each method includes one of:
##   include/admin-local-rwx   change one qube
##   include/admin-local-ro    read one qube
##   include/admin-global-rwx  change the system
##   include/admin-global-ro   read the system

`;

function includeFile(name: PolicyInclude): string {
  const [, scope, access] = name.split('-') as [string, string, string];
  const what = `${access === 'ro' ? 'read' : 'change'} ${scope === 'local' ? 'one qube' : 'the system'}`;
  const lines = [
    `## Included by the policy of every Admin API method that may ${what}.`,
    '## Add your rules here; rules are tried in order and the first match wins.',
    '## Remember "target=dom0" on allow and ask rules.',
    '',
  ];
  if (access === 'ro') lines.push('## Who may change may also read:', `!include include/admin-${scope}-rwx`, '');
  return `${lines.join('\n')}\n`;
}

/**
 * Services that are scripts in /etc/qubes-rpc (admin-api/qubes-rpc/), not
 * links to the socket: the volume import copies the caller's data itself,
 * asking the internal socket where. They are in the policy as methods are.
 */
export const SCRIPT_SERVICES: readonly MethodDecl[] = ['admin.vm.volume.Import', 'admin.vm.volume.ImportWithSize'].map((name) =>
  method(name, { scope: 'local', destAdminvm: null, wantsArg: true, wantsPayload: true, write: true }),
);

/** Every generated file, by its path under admin-api/. */
export function adminApiFiles(table: ReadonlyMap<string, MethodDecl>): Map<string, string> {
  const offered = offeredMethods(table);
  const inPolicy = [...offered, ...SCRIPT_SERVICES].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const files = new Map<string, string>();
  const width = Math.max(...inPolicy.map((m) => m.name.length));
  files.set(
    'policy.d/90-admin-default.policy',
    DEFAULT_POLICY_HEADER + inPolicy.map((m) => `!include-service ${m.name.padEnd(width)} * include/${includeFor(m)}\n`).join(''),
  );
  for (const inc of POLICY_INCLUDES) files.set(`policy.d/include/${inc}`, includeFile(inc));
  files.set('qubes-rpc-methods', offered.map((m) => `${m.name}\n`).join(''));
  return files;
}
