"""The broker's security layer (issue 15): the ONE place where every front end's requests are
authenticated, authorized and throttled (DESIGN.md "Front ends and listeners": a request
checked on one door and not on another is a bug). Bottom-up:

- ``settings``  what the operator turned on (``--auth``, ``--super-users`` …)
- ``state``     users (salted SCRAM keys), ACLs and quotas, as the controller's metadata says
- ``actions``   which ACL operation on which resource each seam call needs (Kafka's table)
- ``authn``     credentials -> principal, for every front end: passwords, SCRAM, certificates
- ``guard``     the gate the seam calls: authorize, filter, record quotas, mute

The logic is ``logd.security`` (pure); this package binds it to the broker's metadata, clock
and counters. No protocol here: front ends translate.
"""

__all__: list[str] = []
