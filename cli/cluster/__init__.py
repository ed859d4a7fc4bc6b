"""``logd cluster``: the brokers and the health of the cluster."""
