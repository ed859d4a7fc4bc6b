"""The controller: the cluster's metadata as a replicated log (DESIGN.md principle 5).

* ``records`` — metadata records (protobuf) inside record batches, and back;
* ``image`` — the pure state machine every broker applies, with snapshots;
* ``store`` — the controller group and the ``MetadataStore`` the broker core uses.
"""

__all__: list[str] = []
