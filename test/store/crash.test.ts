import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { loadQubesXml } from '../../lib/app/qubes-xml-read.js';
import { OfflineVmm } from '../../lib/vmm/offline-vmm.js';
import { ROOT, run, tmpStore } from '../helpers.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('a writer killed with SIGKILL', () => {
  test('100 random kills: the store always loads and is either the old or the new content', async () => {
    const s = tmpStore('qubes-xml/q10.xml');
    const bin = path.join(ROOT, 'bin', 'qvm-features');
    let landed = 0;
    for (let trial = 0; trial < 100; trial++) {
      const before = s.read();
      const line = `        <feature name="x-k${trial}">v</feature>\n`;
      const p = spawn(bin, ['vm0001', `x-k${trial}`, 'v'], { env: s.env, stdio: 'ignore' });
      const exited = new Promise((r) => p.on('close', r));
      await sleep(40 + Math.random() * 160);
      p.kill('SIGKILL');
      await exited;
      const after = s.read();
      // Always loadable ...
      expect(() => loadQubesXml(after, 'x', new OfflineVmm(), s.dir)).not.toThrow();
      // ... and exactly the old or exactly the new content.
      if (after !== before) {
        expect(after.replace(line, '')).toBe(before);
        landed++;
      }
      if (trial % 10 === 9) {
        // The next writer recovers the dead writer's lock and removes its temp files.
        expect(run('qvm-features', ['vm0001', 'x-ok', String(trial)], s.env).code).toBe(0);
        expect(fs.readdirSync(s.dir).filter((n) => n.includes('~'))).toEqual([]);
        expect(fs.existsSync(`${s.xml}.lock`)).toBe(false);
      }
    }
    // The kill window covers both outcomes on this machine; report rather than assert the split.
    console.log(`SIGKILL trials: ${landed} of 100 writes had landed`);
  });
});
