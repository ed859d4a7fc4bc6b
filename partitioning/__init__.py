"""Pure placement logic: key -> partition, sticky partitioner, replica placement, assignors.

Imports neither grpc nor asyncio nor ``logd`` (DESIGN.md layout).
"""
