"""The front ends: one package per listener, each talking to the broker core only through its
seam (``logd.broker.seam``). ``grpc`` (logd's own API and the brokers' internal service),
``kafka`` (the Kafka wire protocol), ``mqtt`` (MQTT 3.1.1/5.0 for devices), and the HTTP-based
ones as they land. A front end plugs into a node through ``logd.node.frontends``
(docs/internals.md, "Layers")."""

__all__: list[str] = []
