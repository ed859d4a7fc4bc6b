"""The REST Proxy's embedded formats that need the schema registry: ``avro`` and
``jsonschema`` (``codecs``: the bytes; ``registry_link``: the schemas)."""

from logd.frontends.http.schemas.codecs import Codec, codec_for, pack, unpack
from logd.frontends.http.schemas.registry_link import RegistryLink

__all__ = ["Codec", "RegistryLink", "codec_for", "pack", "unpack"]
