"""One module per Kafka API: ``handle(ctx, request)`` (see :mod:`logd.frontends.kafka.apis`)."""

__all__: list[str] = []
