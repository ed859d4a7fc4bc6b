"""``logd group``: list, describe, seek and delete consumer groups."""
