"""moto's server (`moto_server`), each DynamoDB request handled alone.

Real DynamoDB applies a conditional write atomically: "Individual write
operations such as UpdateItem are atomic and always operate on the most recent
version of the item, regardless of concurrency."
(https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/BestPractices_ImplementingVersionControl.html)
moto's server handles requests on threads (werkzeug `threaded=True`) and its
`Table.put_item` / `update_item` read the item, check the condition and store
the new item without a lock (moto 5.2, `moto/dynamodb/models/table.py`), so
two concurrent `PutItem`s conditional on the same version could both succeed:
a lost update no AWS table allows (seen in CI: 20 of 21 concurrent events
recorded on one ticket). Here every DynamoDB request (`X-Amz-Target:
DynamoDB_20120810.*`) runs under one lock, body read and answer written inside
it; other services stay concurrent as `moto_server` has them.

Run as `python moto_atomic.py -H HOST -p PORT` (moto_server's arguments), or
`python -c "$(cat moto_atomic.py)" -H HOST -p PORT`.
"""

import threading

from moto import server
from moto.moto_server import werkzeug_app

_LOCK = threading.Lock()
_DISPATCH = werkzeug_app.DomainDispatcherApplication.__call__


def _is_dynamodb(environ):
    return environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_")


def _atomic(self, environ, start_response):
    if not _is_dynamodb(environ):
        return _DISPATCH(self, environ, start_response)
    with _LOCK:
        answer = _DISPATCH(self, environ, start_response)
        try:
            return [b"".join(answer)]
        finally:
            close = getattr(answer, "close", None)
            if close is not None:
                close()


werkzeug_app.DomainDispatcherApplication.__call__ = _atomic
server.main()
