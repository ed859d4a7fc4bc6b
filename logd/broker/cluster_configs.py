"""The cluster's dynamic configs, the broker side (issue 23): describe them, set or delete
them (checked as the config file's values are, then one metadata write), and the values
this broker applies (``logd.metadata.cluster_config``: the cluster's, else its own).

Every door (gRPC ``AlterClusterConfigs``, Kafka's IncrementalAlterConfigs / AlterConfigs of
the broker-default resource "") comes here through the seam.

Ownership: used on the broker's event loop; holds no state of its own (the metadata does).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

from logd.broker.api import ClusterConfig
from logd.broker.config import BrokerConfig, config_text
from logd.errors import InvalidConfigError, InvalidRequestError
from logd.metadata.cluster_config import DYNAMIC_KEYS, move_throttle
from logd.metadata.store import MetadataStore

__all__ = ["SOURCES", "ClusterConfigs"]

#: ClusterConfig.source values, strongest first.
SOURCES = ("cluster", "static", "default")
_MAX_KEY: Final = 255
_MAX_VALUE: Final = 4096  # the metadata's own bound (``records.validate_write``)


class ClusterConfigs:
    """Reads and writes the cluster's dynamic configs; see the module doc."""

    def __init__(self, store: MetadataStore, config: BrokerConfig) -> None:
        self._store = store
        self._config = config

    def describe(self) -> list[ClusterConfig]:
        """Every dynamic key with the value this broker applies and where it comes from."""
        cluster = self._store.cluster_configs()
        defaults = BrokerConfig()
        out = []
        for key in DYNAMIC_KEYS:
            own = config_text(self._config, key)
            if key in cluster:
                out.append(ClusterConfig(key, cluster[key], "cluster"))
            elif own != config_text(defaults, key):
                out.append(ClusterConfig(key, own, "static"))
            else:
                out.append(ClusterConfig(key, own, "default"))
        return out

    async def alter(
        self, configs: Mapping[str, str], delete: Sequence[str], *, validate_only: bool = False
    ) -> None:
        """Set ``configs`` and delete ``delete`` (back to each broker's own value),
        cluster-wide, in one write; refused whole (InvalidConfigError naming the key) when
        one key is not dynamic or one value would not be accepted in a config file."""
        both = sorted(set(configs) & set(delete))
        if both:
            raise InvalidRequestError(f"{both[0]}: both set and deleted")
        checked = {key: self._checked(key, value) for key, value in configs.items()}
        for key in delete:
            self._checked(key, None)
        if not validate_only:
            await self._store.set_cluster_configs(checked, list(delete))

    def move_throttle(self) -> int:
        """The throttle of balance and drain moves that ask for none (bytes/s; 0: none)."""
        return move_throttle(self._store.cluster_configs(), self._config.partition_move_throttle)

    @staticmethod
    def _checked(key: str, value: str | None) -> str:
        if len(key) > _MAX_KEY or (value is not None and len(value) > _MAX_VALUE):
            raise InvalidConfigError(
                f"a config name is at most {_MAX_KEY} characters, a value {_MAX_VALUE}"
            )
        if key not in DYNAMIC_KEYS:
            raise InvalidConfigError(
                f"{key}: not a dynamic cluster config (those are {', '.join(DYNAMIC_KEYS)}); "
                "other keys are set in each broker's config"
            )
        return config_text(BrokerConfig(), key, value) if value is not None else ""
