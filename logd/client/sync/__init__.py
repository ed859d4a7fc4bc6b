"""The sync clients (confluent-kafka's shapes), each a thin shell over a core run on one
background event loop; ``logd.client`` re-exports them.

Modules, from the bottom up:

* ``loop_thread`` — the background thread and loop the sync clients of a process share;
* ``producer``    — ``Producer`` over :mod:`logd.client.producer`;
* ``consumer``    — ``Consumer`` over :mod:`logd.client.consumer` (and its group);
* ``admin``       — ``Admin`` over :class:`logd.client.aio.AsyncAdmin`;
* ``security_admin`` — ``SecurityAdmin`` (users, ACLs, quotas) over ``AsyncSecurityAdmin``.

They mirror the asyncio shells of :mod:`logd.client.aio` file for file. This ``__init__``
imports nothing.
"""

__all__: list[str] = []
