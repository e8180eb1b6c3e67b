# Read a format-4 backup with the reference client's own restore code
# (qubesadmin.backup.restore, offline: no qubesd): its header and qubes.xml
# checks, then its data path (tar, scrypt dec per chunk, the compression
# filter, tar -xO) for every volume of the named qubes, each image written
# to OUT_DIR/<qube>/<volume>.img. Used by the tests and bench/backup.mjs.
# usage: python3 ref-read.py BACKUP PASSPHRASE_FILE OUT_DIR QUBE...
import os, sys, time
from qubesadmin.backup.restore import BackupRestore

backup, pass_file, out_dir, names = os.path.abspath(sys.argv[1]), sys.argv[2], os.path.abspath(sys.argv[3]), sys.argv[4:]
with open(pass_file) as f:
    passphrase = f.readline().rstrip('\n')
t0 = time.time()
r = BackupRestore(None, backup, None, passphrase, tmpdir=os.path.join(out_dir, '.tmp'))
vms = {vm.name: vm for vm in r.backup_app.domains.values()}
dirs, handlers, size = [], {}, 0


def writer(path):
    def handle(stream, *, file_size=None):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, 'wb') as out:
            while True:
                b = stream.read(1 << 20)
                if not b:
                    break
                out.write(b)
            if file_size is not None:
                out.truncate(file_size)
    return handle


for name in names:
    vm = vms[name]
    dirs.append(vm.backup_path)
    size += int(vm.size)
    for vol in ('private', 'root'):
        handlers[os.path.join(vm.backup_path, vol + '.img')] = writer(os.path.join(out_dir, name, vol + '.img'))
r._restore_vm_data(vms_dirs=dirs, vms_size=size, handlers=handlers)
print('ref_restore_wall_s %.2f' % (time.time() - t0))
