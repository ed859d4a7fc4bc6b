"""``logd registry …``: the schema registry's subjects, schemas and compatibility levels,
through its REST API (``logd.client.serde.RegistryClient``), as rpk's ``registry`` verbs."""
