"""``logd security``: users, ACLs and client quotas, in rpk's shapes."""
