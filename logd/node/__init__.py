"""The composition root: builds a broker from its config and runs it (bottom-up):

* ``build`` — ``BrokerNode``: storage, the cluster runtime, the core, the group service
  and the front-end seam, opened and closed in order; ``cluster_settings``.
* ``frontends`` — the ``FrontEnd`` protocol and the registry of front ends by listener.
* ``runner`` — ``NodeRunner``: bind, open, start the front ends, serve, drain, stop; the
  addresses bound (``listeners.json``).
* ``args`` — the flags of ``logd serve`` / ``python -m logd.node``.
* ``main`` — the process: signals, exit codes, the lines it prints.

The only package that imports every layer (docs/internals.md, "Layers").
"""

__all__: list[str] = []
