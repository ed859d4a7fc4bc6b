"""``logd topic``: create, list, describe, delete and configure topics."""
