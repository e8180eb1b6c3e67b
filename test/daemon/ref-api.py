# Answer Admin API requests with the reference's own handlers
# (qubes.api.admin.QubesAdminAPI of ../shared/reference-core), offline, on
# the store named by argv[1] (the qubes' directories under QUBES_BASE_DIR,
# as ours), and print each reply as qubesd would send it
# (one JSON string per line; NUL bytes as they are). A handler's change is
# saved by the handler itself (app.save), as in the reference's qubesd.
# Requests: JSON lines [method, dest, arg, payload] on standard input.
# An exception the reference's daemon would not answer prints null (it
# drops the connection).
import asyncio
import json
import os
import sys

import qubes
import qubes.api.admin
import qubes.config
import qubes.exc

qubes.config.qubes_base_dir = os.environ['QUBES_BASE_DIR']

app = qubes.Qubes(sys.argv[1], offline_mode=True)
ANSWERED = (qubes.exc.QubesException, qubes.exc.ProtocolError, qubes.exc.PermissionDenied)


async def answer(method, dest, arg, payload):
    try:
        api = qubes.api.admin.QubesAdminAPI(app, b'dom0', method.encode(), dest.encode(), arg.encode())
        body = await api.execute(untrusted_payload=payload.encode())
    except ANSWERED as e:
        return '2\0%s\0\0%s\0' % (type(e).__name__, e)
    except Exception:  # the reference's daemon logs these and drops the connection
        return None
    return '0\0' + (body or '')


for line in sys.stdin:
    print(json.dumps(asyncio.run(answer(*json.loads(line)))), flush=True)
