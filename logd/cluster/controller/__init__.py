"""The controller: the cluster's metadata as a replicated log (DESIGN.md principle 5).

Bottom-up:

* ``records`` — metadata records (protobuf) inside record batches, and back;
* ``image`` — the pure state machine every broker applies, with snapshots;
* ``state`` — what the parts below share (the image, the group, the leader table);
* ``view`` — the reads: the image merged with the local Raft groups and the leader table;
* ``listener`` — the Raft group's listener: apply, publish, snapshot and compact;
* ``writes`` — the write path: forwarded to the leader, carried out there;
* ``store`` — ``ControllerStore``, the ``MetadataStore`` the broker core uses (the three
  parts composed).
"""

__all__: list[str] = []
