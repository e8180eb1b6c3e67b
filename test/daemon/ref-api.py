# Answer requests with the reference's own handlers, offline, on the store
# named by argv[1] (the qubes' directories under QUBES_BASE_DIR, as ours),
# and print each reply as qubesd would send it (one JSON string per line;
# NUL bytes as they are). A handler's change is saved by the handler itself
# (app.save), as in the reference's qubesd. An exception the reference's
# daemon would not answer prints null (it drops the connection).
#
# Admin API (qubes.api.admin.QubesAdminAPI of ../shared/reference-core),
# dom0 calling: JSON lines [method, dest, arg, payload] on standard input.
# With argv[2] = misc, the misc socket's methods (qubes.api.misc and the
# extensions that hear features-request), a qube calling dom0: JSON lines
# [method, src, its QubesDB entries {key: value}, payload].
import asyncio
import json
import os
import sys

import qubes
import qubes.api.admin
import qubes.api.misc
import qubes.config
import qubes.exc
import qubes.vm.qubesvm

qubes.config.qubes_base_dir = os.environ['QUBES_BASE_DIR']

app = qubes.Qubes(sys.argv[1], offline_mode=True)
ANSWERED = (qubes.exc.QubesException, qubes.exc.ProtocolError, qubes.exc.PermissionDenied)


class Qdb:
    """The read side of a QubesDB connection over a dictionary."""

    def __init__(self, entries):
        self.entries = {k: v.encode('latin1') for k, v in entries.items()}

    def read(self, key):
        return self.entries.get(key)

    def list(self, prefix):
        return sorted(k for k in self.entries if k.startswith(prefix))


QDB = {}
qubes.vm.qubesvm.QubesVM.untrusted_qdb = property(lambda self: QDB[self.name])


async def answer(api_class, src, method, dest, arg, payload):
    try:
        api = api_class(app, src.encode(), method.encode(), dest.encode(), arg.encode())
        body = await api.execute(untrusted_payload=payload.encode('utf8'))
    except ANSWERED as e:
        return '2\0%s\0\0%s\0' % (type(e).__name__, e)
    except Exception:  # the reference's daemon logs these and drops the connection
        return None
    return '0\0' + (body or '')


def admin(method, dest, arg, payload):
    return answer(qubes.api.admin.QubesAdminAPI, 'dom0', method, dest, arg, payload)


def misc(method, src, entries, payload):
    QDB[src] = Qdb(entries)
    return answer(qubes.api.misc.QubesMiscAPI, src, method, 'dom0', '', payload)


handle = misc if sys.argv[2:] == ['misc'] else admin
for line in sys.stdin:
    print(json.dumps(asyncio.run(handle(*json.loads(line)))), flush=True)
