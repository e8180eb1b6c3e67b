# Answer misc-socket requests (qubes.FeaturesRequest, qubes.NotifyTools,
# qubes.NotifyUpdates) with the reference's own handlers
# (qubes.api.misc.QubesMiscAPI of ../shared/reference-core and the
# extensions that hear features-request), offline, on the store named by
# argv[1], and print each reply as qubesd would send it (one JSON string
# per line; null when the reference's daemon would drop the connection).
# The calling qube's QubesDB is a dictionary given with the request.
# Requests: JSON lines [method, src, qdb entries {key: value}, payload] on
# standard input.
import asyncio
import json
import os
import sys

import qubes
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


async def answer(method, src, entries, payload):
    QDB[src] = Qdb(entries)
    try:
        api = qubes.api.misc.QubesMiscAPI(app, src.encode(), method.encode(), b'dom0', b'')
        body = await api.execute(untrusted_payload=payload.encode('utf8'))
    except ANSWERED as e:
        return '2\0%s\0\0%s\0' % (type(e).__name__, e)
    except Exception:  # the reference's daemon logs these and drops the connection
        return None
    return '0\0' + (body or '')


for line in sys.stdin:
    print(json.dumps(asyncio.run(answer(*json.loads(line)))), flush=True)
