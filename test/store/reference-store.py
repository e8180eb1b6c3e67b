# SPDX-License-Identifier: GPL-2.0-or-later
# Stores written by the reference core (qubes-core-admin, run offline by
# ../shared/reference-core/ref-python) with the classes and features of
# current Qubes: a RemoteVM, boot modes, the servicevm feature, disposable
# templates with preloaded disposables, features only the system sets, and
# dom0's tag-created-vm-with. Test code, not part of the product.
#
#   make DIR           write DIR/qubes.xml (base directory DIR)
#   view STORE         JSON: per qube its class, icon, bootmode (and
#                      appvm_default_bootmode), property names, is_preload
#   change STORE       apply the changes the test also makes with our
#                      commands, and save
import json
import os
import sys

mode, target = sys.argv[1], sys.argv[2]
base = target if mode == 'make' else os.path.dirname(target)

import qubes.config  # noqa: E402

# everything the core would put under /var/lib/qubes goes under `base`
qubes.config.qubes_base_dir = base
for key, value in list(qubes.config.system_path.items()):
    if isinstance(value, str) and value.startswith('/var/lib/qubes'):
        qubes.config.system_path[key] = base + value[len('/var/lib/qubes'):]
for config in qubes.config.defaults['pool_configs'].values():
    if 'dir_path' in config:
        config['dir_path'] = base + config['dir_path'][len('/var/lib/qubes'):]

import qubes  # noqa: E402


def make(path):
    qubes.Qubes.create_empty_store(path, offline_mode=True).close()
    app = qubes.Qubes(path, offline_mode=True)
    app.default_kernel = ''
    tpl = app.add_new_vm('TemplateVM', name='fedora-42', label='black')
    for key, value in [
        ('qrexec', '1'),
        ('supported-rpc.qubes.WaitForRunningSystem', '1'),
        ('supported-rpc.qubes.WaitForSession', '1'),
        ('boot-mode.kernelopts.nosmt', 'nosmt=force'),
        ('boot-mode.name.nosmt', 'No SMT'),
        ('boot-mode.kernelopts.debug', 'debug loglevel=7'),
        ('boot-mode.default-user.debug', 'root'),
        ('boot-mode.appvm-default', 'nosmt'),
        ('boot-mode.standalone-default', 'debug'),
    ]:
        tpl.features[key] = value
    app.default_template = tpl
    net = app.add_new_vm('AppVM', name='sys-net', label='red')
    net.provides_network = True  # the core adds the servicevm feature
    relay = app.add_new_vm('AppVM', name='sys-relay', label='orange')
    remote = app.add_new_vm('RemoteVM', name='remote-work', label='blue')
    remote.relayvm = relay
    remote.transport_rpc = 'qubesair.SSHProxy'
    remote.remote_name = 'work'
    app.add_new_vm('RemoteVM', name='remote-plain', label='purple')
    dvm = app.add_new_vm('AppVM', name='dvm', label='red')
    dvm.template_for_dispvms = True
    dvm.features['preload-dispvm-max'] = '2'
    app.default_dispvm = dvm
    disps = [app.add_new_vm('DispVM', name=n, label='red', template=dvm, dispid=i) for i, n in ((11, 'disp11'), (12, 'disp12'))]
    # features only the system sets (the admin extension forbids them to callers)
    dvm.features['preload-dispvm'] = ' '.join(d.name for d in disps)
    disps[0].features['preload-dispvm-completed'] = '1'
    disps[1].features['preload-dispvm-in-progress'] = ''
    work = app.add_new_vm('AppVM', name='work', label='green')
    work.features['deferred-netvm-original'] = 'sys-net'
    work.features['boot-mode.active'] = 'debug'
    explicit = app.add_new_vm('AppVM', name='explicit', label='yellow')
    explicit.bootmode = 'nosmt'
    sa = app.add_new_vm('StandaloneVM', name='standalone', label='gray')
    sa.features['boot-mode.kernelopts.single'] = 'single'
    sa.features['boot-mode.active'] = 'single'
    app.domains['dom0'].features['tag-created-vm-with'] = 'managed project-x'
    app.domains['dom0'].features['preload-dispvm-threshold'] = '512'
    app.save()
    app.close()
    # loaded and saved once more, as every later change does: the empty
    # default_kernel becomes the text None (the reference's str(None))
    app = qubes.Qubes(path, offline_mode=True)
    app.save()
    app.close()


def view(path):
    app = qubes.Qubes(path, offline_mode=True)
    out = {}
    for vm in app.domains:
        entry = {
            'class': vm.__class__.__name__,
            'icon': vm.icon,
            'properties': sorted(p.__name__ for p in vm.property_list()),
        }
        for name in ('bootmode', 'appvm_default_bootmode', 'is_preload'):
            if hasattr(type(vm), name):
                entry[name] = getattr(vm, name)
        out[vm.name] = entry
    print(json.dumps(out, sort_keys=True, indent=1))


def change(path):
    app = qubes.Qubes(path, offline_mode=True)
    d = app.domains
    d['remote-work'].relayvm = d['work']
    d['remote-work'].remote_name = 'work-at-office'
    d['remote-plain'].relayvm = d['sys-relay']
    d['remote-plain'].include_in_backups = True
    # without events: the template's handlers only ask preloaded disposables
    # to refresh, which needs the hypervisor (not there offline)
    d['fedora-42'].events_enabled = False
    d['fedora-42'].appvm_default_bootmode = 'debug'
    d['fedora-42'].events_enabled = True
    d['explicit'].bootmode = 'debug'
    d['sys-relay'].features['boot-mode.active'] = 'nosmt'
    d['standalone'].features['x-note'] = 'kept'
    app.save()
    app.close()


{'make': lambda: make(os.path.join(target, 'qubes.xml')), 'view': lambda: view(target), 'change': lambda: change(target)}[mode]()
