"""Security's pure parts (issue 15; DESIGN.md "Security"), bottom-up:

- ``principal``          ``User:alice``
- ``acl``                Kafka's ACL vocabulary: resource types, operations, bindings, filters
- ``authorizer``         Kafka's authorization rules over the ACL set (the ONE authorizer)
- ``scram``              SCRAM-SHA-256/512 credentials, server and client (RFC 5802/7677)
- ``plain``              SASL/PLAIN parsing (RFC 4616)
- ``credentials``        user + password checks against stored SCRAM keys, with a cache
- ``principal_mapping``  ``ssl.principal.mapping.rules`` (KIP-371)
- ``quota``              client quotas and Kafka's throttle-time arithmetic
- ``certs``              CA, broker and client certificates (``logd dev --secure``, tests)

No I/O, no clock, no randomness of its own (nonces, salts and ``now`` are passed in):
anyone may import it, the client's tools and the broker's core alike. Where requests are
checked (once, for every front end) is ``logd/broker``'s business, not this package's.
"""

__all__: list[str] = []
