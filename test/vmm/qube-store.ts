// SPDX-License-Identifier: GPL-2.0-or-later
/**
 * Small qubes.xml stores for the VMM tests, written to a fresh base
 * directory that also holds a kernel directory (`vm-kernels/dummy` with
 * vmlinuz, initramfs, modules.img) and two pools: `lk` (linux-kernel) and
 * `r` (file-reflink under `<base>/pool`).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Qubes } from '../../lib/app/app.js';
import { loadQubesXml } from '../../lib/app/qubes-xml-read.js';
import type { Vmm } from '../../lib/vmm/vmm.js';

export const UUID = '7db78950-c467-4863-94d1-af59806384ea';

export interface Qube {
  name?: string;
  klass?: string;
  qid?: number;
  uuid?: string;
  /** Property text as stored (XML-escaped). */
  props?: Record<string, string>;
  features?: Record<string, string>;
  volumes?: string;
  devices?: string;
}

function domainXml(q: Qube, i: number): string {
  const props: Record<string, string> = {
    label: 'red',
    name: q.name ?? 'test',
    qid: String(q.qid ?? i + 1),
    uuid: q.uuid ?? (i === 0 ? UUID : `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`),
    ...q.props,
  };
  const p = Object.entries(props).map(([k, v]) => `<property name="${k}">${v}</property>`).join('');
  const f = Object.entries(q.features ?? {}).map(([k, v]) => `<feature name="${k}">${v}</feature>`).join('');
  return `<domain id="domain-${i + 1}" class="${q.klass ?? 'StandaloneVM'}"><properties>${p}</properties><features>${f}</features><tags/>${q.devices ?? ''}<volume-config>${q.volumes ?? ''}</volume-config></domain>`;
}

export interface QubeStore {
  app: Qubes;
  base: string;
  file: string;
  remove(): void;
}

/** The store's text and directory, loaded with `vmm`. */
export function qubeStore(qubes: Qube[], vmm: Vmm, dom0Features = ''): QubeStore {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'qubes-vmm-'));
  // QEMU runs as its own user: it must reach disk images below here
  fs.chmodSync(base, 0o755);
  const k = path.join(base, 'vm-kernels', 'dummy');
  fs.mkdirSync(k, { recursive: true });
  for (const f of ['vmlinuz', 'initramfs', 'modules.img']) fs.writeFileSync(path.join(k, f), '');
  const xml =
    `<qubes><labels><label id="label-1" color="0xcc0000">red</label></labels><pools>` +
    `<pool name="lk" dir_path="${base}/vm-kernels" driver="linux-kernel"/>` +
    `<pool name="r" dir_path="${base}/pool" driver="file-reflink" revisions_to_keep="1"/>` +
    `</pools><properties><property name="default_kernel">dummy</property></properties><domains>` +
    `<domain id="domain-0" class="AdminVM"><properties><property name="label">red</property></properties><features>${dom0Features}</features><tags/></domain>` +
    qubes.map(domainXml).join('') +
    `</domains></qubes>`;
  const file = path.join(base, 'qubes.xml');
  fs.writeFileSync(file, xml);
  return { app: loadQubesXml(xml, file, vmm, base), base, file, remove: () => fs.rmSync(base, { recursive: true, force: true }) };
}

export const KERNEL_VOLUME = '<volume name="kernel" pool="lk" vid="dummy" revisions_to_keep="0" rw="False" save_on_stop="False" snap_on_start="False"/>';

/** A volume in pool `r` of the qube `owner`. */
export const volume = (name: string, rw = true, owner = 'test', size = 1048576) =>
  `<volume name="${name}" pool="r" vid="appvms/${owner}/${name}" revisions_to_keep="0" rw="${rw ? 'True' : 'False'}" save_on_stop="False" snap_on_start="False" size="${size}"/>`;
