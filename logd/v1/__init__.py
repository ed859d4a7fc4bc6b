"""Generated protobuf and gRPC modules of logd's API (``make proto``; do not edit by hand)."""
