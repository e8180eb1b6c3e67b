// Ephemeral volatile volumes: encrypted with a throw-away key through
// dm-crypt. Device-mapper cannot run here, so cryptsetup is a recording
// stand-in that makes (and removes) the mapping's device node; the test
// checks the exact commands, their order and the zeroed mapping.
import fs from 'node:fs';
import path from 'node:path';
import { Store } from '../../lib/app/store.js';
import { pathsFromEnv } from '../../lib/config.js';
import type { CommandRunner, RunOptions } from '../../lib/storage/command-runner.js';
import { PoolSet } from '../../lib/storage/qube-storage.js';
import { storageContext } from '../../lib/storage/pools.js';
import { OfflineVmm } from '../../lib/vmm/offline-vmm.js';
import { tmpDir } from '../helpers.js';
import { storageEnv } from './storage-env.js';

interface Call {
  argv: string[];
  env?: Record<string, string>;
}

/**
 * Records every command; `cryptsetup open` makes a 1 MiB node full of 0xff
 * under devDir/mapper, `close` removes it; losetup gives a loop device.
 */
function recordingRunner(devDir: string, calls: Call[]): CommandRunner {
  return {
    async run(argv: readonly string[], options: RunOptions = {}) {
      calls.push({ argv: [...argv], env: options.env });
      const i = argv.indexOf('open');
      if (argv[0] === 'cryptsetup' && i > 0) {
        fs.mkdirSync(path.join(devDir, 'mapper'), { recursive: true });
        fs.writeFileSync(path.join(devDir, 'mapper', argv[i + 2] as string), Buffer.alloc(1024 * 1024, 0xff));
      }
      if (argv[0] === 'cryptsetup' && argv.includes('close')) fs.rmSync(path.join(devDir, 'mapper', argv.at(-1) as string));
      // the root and private volumes' device-mapper layer: a loop device for every file
      if (argv[0] === 'losetup' && argv[1] === '--find') return { exitCode: 0, stdout: '/dev/loop0\n', stderr: '' };
      return { exitCode: 0, stdout: '', stderr: '' };
    },
  };
}

describe('ephemeral volatile volumes', () => {
  const dir = tmpDir('qubes-eph-');
  const s = storageEnv(dir);
  const devDir = tmpDir('qubes-dev-');
  const calls: Call[] = [];

  async function storage(vm: string) {
    const app = new Store(pathsFromEnv(s.env), new OfflineVmm()).read();
    const ctx = { ...storageContext(s.env), runner: recordingRunner(devDir, calls), devDir };
    return new PoolSet(app, ctx).qube(app.domains.get(vm) as NonNullable<ReturnType<typeof app.domains.get>>);
  }
  const cryptCalls = () => calls.filter((c) => c.argv[0] === 'cryptsetup');

  beforeAll(() => {
    s.ok('qubes-create');
    // the varlibqubes pool's driver follows the filesystem of the temporary directory; force `file`
    const xml = s.env.QUBES_XML_PATH as string;
    fs.writeFileSync(xml, fs.readFileSync(xml, 'utf8').replace('driver="file-reflink"', 'driver="file"'));
    s.ok('qvm-pool', 'set', 'varlibqubes', '-o', 'ephemeral_volatile=True');
    s.ok('qvm-create', '-C', 'StandaloneVM', 'my_vm-1', '-l', 'red');
  });

  test('the pool setting makes writable volatile volumes ephemeral, nothing else', () => {
    expect(s.ok('qvm-volume', 'info', 'my_vm-1:volatile', 'ephemeral')).toBe('True\n');
    expect(s.ok('qvm-volume', 'info', 'my_vm-1:private', 'ephemeral')).toBe('False\n');
    const r = s.q('qvm-volume', 'config', 'my_vm-1:private', 'ephemeral', 'True');
    expect(r).toMatchObject({
      code: 1,
      stderr: 'qvm-volume: error: Cannot enable ephemeral on snap_on_start or save_on_stop or non-dom0 or not writable volume\n',
    });
  });

  test('start opens a plain dm-crypt mapping with a random key and zeroes its start; stop closes it', async () => {
    const qs = await storage('my_vm-1');
    await qs.start();
    const name = 'vm-volatile-my_uvm_d1-crypt@volatile';
    const mapping = path.join(devDir, 'mapper', name);
    const image = path.join(dir, 'appvms', 'my_vm-1', 'volatile.img');
    expect(cryptCalls()).toEqual([
      {
        argv: ['cryptsetup', '--key-file=/dev/urandom', '--cipher=aes-xts-plain64', '--type=plain', '--', 'open', image, name],
        env: { LC_ALL: 'C' },
      },
    ]);
    const head = fs.readFileSync(mapping).subarray(0, 65536 + 1);
    expect(head.subarray(0, 65536).every((b) => b === 0)).toBe(true);
    expect(head[65536]).toBe(0xff);
    expect(qs.devicePath(qs.require('volatile'))).toBe(mapping);
    calls.length = 0;
    await qs.stop();
    expect(cryptCalls()).toEqual([{ argv: ['cryptsetup', '--', 'close', name], env: { LC_ALL: 'C' } }]);
    expect(fs.existsSync(image)).toBe(false);
  });

  test('a stale mapping of a crashed run is closed before the new one is opened', async () => {
    calls.length = 0;
    const name = 'vm-volatile-my_uvm_d1-crypt@volatile';
    fs.writeFileSync(path.join(devDir, 'mapper', name), 'stale');
    const qs = await storage('my_vm-1');
    await qs.start();
    expect(cryptCalls().map((c) => c.argv.slice(-3))).toEqual([
      ['--', 'close', name],
      ['open', path.join(dir, 'appvms', 'my_vm-1', 'volatile.img'), name],
    ]);
    await qs.stop();
  });
});
