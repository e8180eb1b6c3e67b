# Time a real backup by the reference implementation (qubes-core-admin,
# offline) of one qube whose private volume is a copy of IMAGE (holes
# kept): the realistic-volume side of bench/backup.mjs. BASE is wiped and
# used as the reference's /var/lib/qubes; the backup is written to OUT.
# usage: ref-python ref-backup.py BASE OUT IMAGE gz|none
import asyncio, os, shutil, sys, time
import qubes.config
base, out, image, compressed = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == 'gz'
qubes.config.qubes_base_dir = base
qubes.config.defaults['pool_configs']['varlibqubes']['dir_path'] = base
qubes.config.defaults['pool_configs']['linux-kernel']['dir_path'] = os.path.join(base, 'vm-kernels')
import qubes, qubes.backup, qubes.storage, qubes.vm.appvm, qubes.vm.templatevm

shutil.rmtree(base, ignore_errors=True)
os.makedirs(base)
app = qubes.Qubes.create_empty_store(os.path.join(base, 'qubes.xml'), offline_mode=True)
asyncio.run(app.setup_pools())
app.default_kernel = None


def sparse_copy(src, dst):
    """Copy src over dst, leaving blocks of zeros as holes."""
    size = os.path.getsize(src)
    with open(src, 'rb') as f, open(dst, 'r+b') as g:
        g.truncate(0)
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            if b.count(0) == len(b):
                g.seek(len(b), 1)
            else:
                g.write(b)
        g.truncate(size)


async def main():
    tpl = app.add_new_vm(qubes.vm.templatevm.TemplateVM, name='debian-12', label='black')
    app.default_template = tpl
    vm = app.add_new_vm(qubes.vm.appvm.AppVM, name='work', label='red', template=tpl, netvm=None)
    vm.volume_config['private']['size'] = os.path.getsize(image)
    vm.storage = qubes.storage.Storage(vm)
    await vm.create_on_disk()
    sparse_copy(image, vm.volumes['private'].path)
    os.sync()
    app.save()
    t0 = time.time()
    b = qubes.backup.Backup(app, [vm], target_dir=out, passphrase=open(os.environ['BENCH_PASS_FILE']).readline().rstrip('\n'), compressed=compressed)
    await b.backup_do()
    print('backup_wall_s %.2f' % (time.time() - t0))


asyncio.run(main())
