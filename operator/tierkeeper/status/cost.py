"""A monthly cost estimate: the tier's reference cost, adjusted for what differs from it.

Unit prices are rough list prices of a small managed cluster; the point is that the
tier defaults cost exactly the reference of SPEC §1 and that asking for more shows.
"""

from __future__ import annotations

from tierkeeper.models import EnvironmentSpec, ResolvedEnvironment, resolve
from tierkeeper.models.tiers import REFERENCE_COST_USD
from tierkeeper.models.units import quantity_bytes

PER_APP_REPLICA_USD = 3.0
PER_POSTGRES_GIB_USD = 0.10
PER_POSTGRES_INSTANCE_USD = 4.0
PER_REDIS_GIB_USD = 6.0
GIB = 2**30


def _variable_cost(env: ResolvedEnvironment) -> float:
    spec = env.spec
    colours = 2 if env.blue_green else 1
    replicas = 0 if spec.suspend else spec.app.replicas * colours
    postgres = spec.postgres
    database = (
        postgres.instances
        * (
            PER_POSTGRES_INSTANCE_USD
            + PER_POSTGRES_GIB_USD * quantity_bytes(postgres.storage) / GIB
        )
        if postgres.enabled
        else 0.0
    )
    cache = (
        PER_REDIS_GIB_USD * quantity_bytes(spec.redis.max_memory) / GIB
        if spec.redis.enabled
        else 0.0
    )
    return PER_APP_REPLICA_USD * replicas + database + cache


def estimated_monthly_cost(env: ResolvedEnvironment) -> float:
    tier = env.spec.tier
    reference = resolve(EnvironmentSpec(tier=tier), name=env.name, namespace=env.namespace)
    delta = _variable_cost(env) - _variable_cost(reference)
    return round(max(REFERENCE_COST_USD[tier] + delta, 0.0), 2)
