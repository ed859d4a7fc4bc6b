"""Raft as a pure state machine (DESIGN.md principle 4).

Imports nothing of gRPC, asyncio, ``time``, ``random``, the OS or ``logd``.
"""
