"""The deterministic Raft cluster simulator (see simulator.py)."""
