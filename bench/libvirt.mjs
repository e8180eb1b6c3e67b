#!/usr/bin/env node
// libvirt benchmark (not a test): the RPC client against virsh, and qvm-ls
// with live states for 200 defined domains. Needs root and a running
// system libvirtd with the QEMU driver (the live tests start one:
// test/vmm/libvirt-daemons.ts); `npm run build` first. Figures go to
// bench/RESULTS.md.
//
//   node bench/libvirt.mjs          (BENCH_RUNS, default 21)
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { median, medianMs } from './measure.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = (p) => path.join(root, 'dist', p);
const { LibvirtConnection } = await import(dist('lib/vmm/libvirt/connection.js'));
const { loadQubesXml } = await import(dist('lib/app/qubes-xml-read.js'));
const { renderDomainXml } = await import(dist('lib/vmm/domain-xml/render.js'));
const { LibvirtVmm } = await import(dist('lib/vmm/libvirt-vmm.js'));
const { CreateFlags } = await import(dist('lib/vmm/libvirt/constants.js'));

const URI = 'qemu:///system';
const runs = Number(process.env.BENCH_RUNS || 21);
const N = 200;
const timeAsync = (fn) => medianMs(runs, fn);

function timeProcess(cmd, args, env = {}) {
  const samples = [];
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
    samples.push(Number(process.hrtime.bigint() - t0) / 1e6);
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  }
  return median(samples);
}

// ---- connect + one call ------------------------------------------------------
const inProcess = await timeAsync(async () => {
  const c = new LibvirtConnection(URI);
  await c.listAllDomains();
  await c.close();
});
const clientScript = `const { LibvirtConnection } = await import(${JSON.stringify(dist('lib/vmm/libvirt/connection.js'))}); await new LibvirtConnection('${URI}').listAllDomains();`;
const nodeProcess = timeProcess(process.execPath, ['--input-type=module', '-e', clientScript]);
const nodeBare = timeProcess(process.execPath, ['-e', '0']);
const virshProcess = timeProcess('virsh', ['-c', URI, 'list', '--all']);

// ---- qvm-ls with 200 defined domains ----------------------------------------------
const base = fs.mkdtempSync(path.join(os.tmpdir(), 'qubes-bench-libvirt-'));
fs.chmodSync(base, 0o755);
const names = Array.from({ length: N }, (_, i) => `bench-${String(i).padStart(3, '0')}`);
const uuid = (i) => `b0000000-0000-4000-8000-${String(i).padStart(12, '0')}`;
const qube = (n, i) =>
  `<domain id="domain-${i + 1}" class="StandaloneVM"><properties><property name="label">red</property><property name="name">${n}</property>` +
  `<property name="qid">${i + 1}</property><property name="uuid">${uuid(i)}</property><property name="kernel"></property>` +
  `<property name="memory">64</property><property name="vcpus">1</property></properties><features/><tags/><volume-config/></domain>`;
const xml =
  '<qubes><labels><label id="label-1" color="0xcc0000">red</label></labels><pools/><properties/><domains>' +
  '<domain id="domain-0" class="AdminVM"><properties><property name="label">red</property></properties><features/><tags/></domain>' +
  names.map(qube).join('') +
  '</domains></qubes>';
const store = path.join(base, 'qubes.xml');
fs.writeFileSync(store, xml);
const vmm = new LibvirtVmm(URI, '/nonexistent');
const app = loadQubesXml(xml, store, vmm, base);
const conn = vmm.libvirt();
const started = [];
let qvmLs;
let qvmLsOffline;
let listing;
try {
  for (const n of names) await conn.defineXml(await renderDomainXml(app, app.domains.get(n), URI, { templateDirs: [] }));
  // two live ones, so the listing shows more than Halted
  for (const [n, flags] of [[names[0], 0], [names[1], CreateFlags.StartPaused]]) started.push(await conn.create(await conn.lookupByName(n), flags));
  const env = { QUBES_XML_PATH: store, QUBES_BASE_DIR: base, QUBES_OFFLINE_MODE: '', LIBVIRT_DEFAULT_URI: URI };
  listing = spawnSync(path.join(root, 'bin', 'qvm-ls'), ['--raw-data', '-O', 'name,state'], { env: { ...process.env, ...env }, encoding: 'utf8' }).stdout;
  qvmLs = timeProcess(path.join(root, 'bin', 'qvm-ls'), [], env);
  qvmLsOffline = timeProcess(path.join(root, 'bin', 'qvm-ls'), ['--offline-mode'], env);
} finally {
  for (const d of started) await conn.destroy(d).catch(() => undefined);
  for (const d of await conn.listAllDomains()) if (d.name.startsWith('bench-')) await conn.undefine(d).catch(() => undefined);
  await vmm.close();
  fs.rmSync(base, { recursive: true, force: true });
}
const states = listing.trim().split('\n').filter((l) => !l.startsWith('dom0|')).map((l) => l.split('|')[1]);
const count = (s) => states.filter((x) => x === s).length;

console.log(`${runs} runs each, median wall time; ${os.cpus().length} CPUs, node ${process.version}\n`);
console.log('| what | median ms |');
console.log('|---|---:|');
console.log(`| connect + CONNECT_LIST_ALL_DOMAINS + close, in a running Node process | ${inProcess.toFixed(2)} |`);
console.log(`| the same as a new \`node\` process (start-up included) | ${nodeProcess.toFixed(1)} |`);
console.log(`| \`node -e 0\` (bare start-up) | ${nodeBare.toFixed(1)} |`);
console.log(`| \`virsh -c ${URI} list --all\` (new process) | ${virshProcess.toFixed(1)} |`);
console.log(`| \`qvm-ls\`, ${N} defined domains, live states (${count('Running')} Running, ${count('Paused')} Paused, ${count('Halted')} Halted) | ${qvmLs.toFixed(1)} |`);
console.log(`| \`qvm-ls --offline-mode\`, same store | ${qvmLsOffline.toFixed(1)} |`);
console.log(`\nvirsh / in-process client: ${(virshProcess / inProcess).toFixed(1)}x; virsh / node process: ${(virshProcess / nodeProcess).toFixed(2)}x`);
console.log(`qvm-ls live − offline: ${(qvmLs - qvmLsOffline).toFixed(1)} ms`);
