"""The data volumes an Environment wants and their sizes: the one place the renderers and
the reconcile (which compares them with the live claims) take them from."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from tierkeeper.models import Persistence, ResolvedEnvironment
from tierkeeper.models.units import canonical_quantity, quantity_bytes


class Volume(StrEnum):
    POSTGRES = "postgres"
    REDIS = "redis"
    BACKUPS = "backups"


# Sizes rendered in place of the wanted ones: a claim held at its live size, which the
# API server would refuse to change.
VolumeSizes = Mapping[Volume, str]
AS_WANTED: VolumeSizes = MappingProxyType({})
STORAGE = "postgres.storage"


@dataclass(frozen=True)
class DataVolume:
    volume: Volume
    claim: str  # the PersistentVolumeClaim's name
    size: str  # as the spec wants it
    source: str  # the spec field the size follows, for messages


def _builtin_postgres(env: ResolvedEnvironment) -> bool:
    return env.spec.postgres.enabled and not env.cloudnative_pg


def builtin_backups(env: ResolvedEnvironment) -> bool:
    """Backups by our CronJob onto our volume; CloudNativePG takes its own."""
    return _builtin_postgres(env) and env.spec.postgres.backup.enabled


def redis_volume_size(max_memory: str) -> str:
    """Twice maxmemory, in whole MiB: room for an AOF rewrite or RDB fork beside the current
    file."""
    return f"{-(-2 * quantity_bytes(max_memory) // 2**20)}Mi"


def data_volumes(env: ResolvedEnvironment) -> list[DataVolume]:
    """Every data volume the Environment wants, at the size its spec asks for."""
    names, postgres, redis = env.names, env.spec.postgres, env.spec.redis
    storage = postgres.storage
    volumes = []
    if _builtin_postgres(env):
        volumes.append(DataVolume(Volume.POSTGRES, names.postgres_data, storage, STORAGE))
    if redis.enabled and redis.persistence is not Persistence.NONE:
        size = redis_volume_size(redis.max_memory)
        volumes.append(DataVolume(Volume.REDIS, names.redis_data, size, "redis.maxMemory (x2)"))
    if builtin_backups(env):
        # Compressed dumps of a database are smaller than its volume; the same size holds
        # several of them.
        volumes.append(DataVolume(Volume.BACKUPS, names.backups_pvc, storage, STORAGE))
    return volumes


def all_claims(env: ResolvedEnvironment) -> dict[Volume, str]:
    """The claim of every data volume the Environment may have, wanted or not."""
    names = env.names
    return {
        Volume.POSTGRES: names.postgres_data,
        Volume.REDIS: names.redis_data,
        Volume.BACKUPS: names.backups_pvc,
    }


def volume_size(env: ResolvedEnvironment, volume: Volume, sizes: VolumeSizes) -> str:
    """The size a renderer writes for `volume`: the held one, else the wanted one, in the
    form the API server stores (1024Mi as 1Gi), so that a claim or claim template that has
    it holds what we apply."""
    if volume in sizes:
        return canonical_quantity(sizes[volume])
    wanted = next((v.size for v in data_volumes(env) if v.volume is volume), None)
    if wanted is None:
        raise ValueError(f"{volume} volume is not wanted")
    return canonical_quantity(wanted)
