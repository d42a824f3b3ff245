"""The Environment resource: its spec, as users write it and as `resolve()` completes it.

One set of classes serves both: a user's spec is parsed with them and
`model_fields_set` records what was written explicitly; `resolve()` merges those
explicit fields over the tier's defaults and validates the result with the same
classes. Field defaults here are the tier-independent base values.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import ConfigDict, Field
from pydantic.config import JsonDict

from tierkeeper.models.backup import Backup, Bootstrap
from tierkeeper.models.base import Model, SecretKeyRef
from tierkeeper.models.deploy import Deploy
from tierkeeper.models.route import Route
from tierkeeper.models.units import Duration, Quantity


class Tier(StrEnum):
    DEVELOPMENT = "development"
    STAGING = "staging"
    PRODUCTION = "production"


class StrategyType(StrEnum):
    ROLLING = "Rolling"
    BLUE_GREEN = "BlueGreen"


class PostgresProvider(StrEnum):
    BUILTIN = "builtin"
    CLOUDNATIVE_PG = "cloudnative-pg"


class Persistence(StrEnum):
    NONE = "none"
    SNAPSHOT = "snapshot"
    AOF = "aof"


class DeletionPolicy(StrEnum):
    RETAIN = "Retain"
    DELETE = "Delete"


EvictionPolicy = Literal[
    "noeviction",
    "allkeys-lru",
    "allkeys-lfu",
    "allkeys-random",
    "volatile-lru",
    "volatile-lfu",
    "volatile-random",
    "volatile-ttl",
]

# Known external services and the app environment variable each is wired into.
EXTERNAL_SERVICES = {
    "mongodb": "MONGODB_URI",
    "upstash": "UPSTASH_REDIS_URL",
    "sentry": "SENTRY_DSN",
}

PASS_THROUGH: JsonDict = {"x-kubernetes-preserve-unknown-fields": True}


class HealthCheck(Model):
    """HTTP health check used by probes and by the blue-green health gate."""

    path: str = Field(
        "/health",
        pattern=r"^/[^\s]*$",
        max_length=1024,
        description="HTTP path answered with 2xx when the app is healthy.",
    )
    interval_seconds: int = Field(30, ge=1, le=3600, description="Seconds between checks.")
    timeout_seconds: int = Field(5, ge=1, le=300, description="Seconds before one check fails.")
    failure_threshold: int = Field(
        3, ge=1, le=100, description="Consecutive failures that make the app unhealthy."
    )
    strict: bool = Field(
        False,
        description="During a blue-green health gate, a single failed check aborts the rollout.",
    )


class RestartPolicy(Model):
    """How many container restarts a rollout tolerates before it is failed."""

    max_retries: int = Field(
        3, ge=0, le=100, description="Container restarts tolerated during a rollout."
    )
    delay_seconds: int = Field(
        0, ge=0, le=3600, description="Seconds to wait before retrying a failed step."
    )


class App(Model):
    """The application containers a Release deploys."""

    port: int = Field(8080, ge=1, le=65535, description="Container port the app listens on.")
    replicas: int = Field(
        1, ge=0, le=1000, description="App replicas (per colour when blue-green)."
    )
    env: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Extra environment variables (Kubernetes EnvVar objects), passed through.",
        json_schema_extra={"items": {"type": "object", **PASS_THROUGH}},
    )
    resources: dict[str, Any] = Field(
        default_factory=dict,
        description="Container resource requests and limits, passed through.",
        json_schema_extra=PASS_THROUGH,
    )
    health_check: HealthCheck | None = Field(
        None, description="HTTP health check; absent means no probes and no health gate."
    )
    restart_policy: RestartPolicy = Field(
        default_factory=RestartPolicy, description="Restart budget of a rollout."
    )


class BlueGreen(Model):
    """Settings of a blue-green rollout."""

    rollback_window: Duration = Field(
        "2h", description="How long the previous colour is kept as a standby for instant rollback."
    )
    auto_promote: bool = Field(
        True, description="Switch traffic as soon as the health gate passes."
    )
    post_promotion_seconds: int = Field(
        60, ge=0, le=86400, description="Seconds of health checks on live traffic after a switch."
    )
    progress_deadline_seconds: int = Field(
        600, ge=10, le=86400, description="Seconds a rollout may take before it is failed."
    )
    backup_before_switch: bool = Field(
        False,
        description="Take a base backup of the database, and wait for it, before a new image "
        "is deployed for a switch (not on the first rollout, not on a rollback to the "
        "standby); a failed backup holds the rollout. Acts only where postgres has backups "
        "enabled. The production tier turns it on.",
    )


class Strategy(Model):
    """How a Release reaches this Environment."""

    type: StrategyType = Field(StrategyType.ROLLING, description="Rolling or BlueGreen.")
    blue_green: BlueGreen = Field(
        default_factory=BlueGreen, description="Blue-green settings (type BlueGreen)."
    )
    scale_down_delay_seconds: int = Field(
        30,
        ge=0,
        le=3600,
        description="When the strategy of a live Environment changes: seconds the old "
        "shape's Deployments keep running after the active Service moved to the new shape. "
        "EndpointSlices, kube-proxy and ingress controllers follow a selector change with a "
        "lag, and requests they still send to the old pods would fail if those went at once "
        "(Argo Rollouts' scaleDownDelaySeconds). 30 unless set; 0 removes the old shape with "
        "the switch.",
    )


class Pool(Model):
    """Connection-pool settings handed to the app as environment variables."""

    max_connections: int = Field(10, ge=1, le=10000, description="Maximum open connections.")
    max_lifetime: Duration = Field("30m", description="Maximum lifetime of one connection.")
    max_idle: Duration = Field("10m", description="Maximum idle time of one connection.")


class Postgres(Model):
    """The Environment's PostgreSQL database."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "!has(self.backup) || !has(self.backup.pitr) || "
                    "!has(self.backup.pitr.enabled) || !self.backup.pitr.enabled || "
                    "!has(self.backup.enabled) || self.backup.enabled",
                    "message": "postgres.backup.pitr needs backups enabled",
                },
            ]
        }
    )

    enabled: bool = Field(True, description="Run a PostgreSQL database for the app.")
    version: str = Field(
        "16", pattern=r"^[0-9]{2}$", description='PostgreSQL major version, e.g. "16".'
    )
    image: str | None = Field(
        None,
        pattern=r"^[^\s]+$",
        max_length=512,
        description="The database's image, {version} standing for the major version. "
        "Default: postgres:{version}; with an object store, one that also holds barman-cloud "
        "(ghcr.io/tierkeeper/postgres:{version}, images/postgres); with provider "
        "cloudnative-pg, CloudNativePG's (ghcr.io/cloudnative-pg/postgresql:{version}).",
    )
    storage: Quantity = Field("1Gi", description="Volume size of each instance.")
    instances: int = Field(
        1, ge=1, le=9, description="Instances; more than 1 means HA and needs cloudnative-pg."
    )
    provider: PostgresProvider = Field(
        PostgresProvider.BUILTIN,
        description="builtin (a StatefulSet) or cloudnative-pg (a CloudNativePG Cluster).",
    )
    pool: Pool = Field(default_factory=Pool, description="Connection pool given to the app.")
    backup: Backup = Field(default_factory=Backup, description="Scheduled backups.")
    bootstrap: Bootstrap | None = Field(
        None, description="Start from another Environment's backups; only at creation."
    )


class Redis(Model):
    """The Environment's Redis cache."""

    enabled: bool = Field(True, description="Run a Redis cache for the app.")
    max_memory: Quantity = Field("128Mi", description="Redis maxmemory.")
    eviction_policy: EvictionPolicy = Field("allkeys-lru", description="Redis maxmemory-policy.")
    persistence: Persistence = Field(
        Persistence.NONE,
        description="none, snapshot (daily RDB) or aof (append-only file, fsync every second).",
    )


class Network(Model):
    """The Environment's private network."""

    policies: bool = Field(
        True,
        description="NetworkPolicies: PostgreSQL and Redis accept only this Environment's "
        "app (and backup) pods, the app only the ingress controller's namespace when the "
        "operator names one. Off for clusters whose network plugin enforces no policies.",
    )


class ExternalService(Model):
    """A service reached over the network, wired into the app from a Secret."""

    secret_ref: SecretKeyRef = Field(description="Where the connection string is kept.")


class Budget(Model):
    """Monthly spending limit."""

    monthly_usd: float = Field(
        ge=0, le=1_000_000, alias="monthlyUSD", description="Monthly budget in US dollars."
    )


# What `deploy.imageTemplate` may contain besides literal text: the commit, its first 7
# characters, and the branch (made tag-safe). Known to the CRD's pattern and to the hook.
class EnvironmentSpec(Model):
    """Desired state of an Environment. Every field but `tier` defaults from the tier."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "!has(self.postgres) || !has(self.postgres.instances) || "
                    "self.postgres.instances <= 1 || (has(self.postgres.provider) ? "
                    "self.postgres.provider == 'cloudnative-pg' : self.tier == 'production')",
                    "message": "postgres.instances > 1 (HA) needs provider cloudnative-pg",
                },
                {
                    "rule": "!has(self.postgres) || !has(self.postgres.provider) || "
                    "self.postgres.provider != 'builtin' || self.tier != 'production' || "
                    "(has(self.postgres.instances) && self.postgres.instances == 1)",
                    "message": "production defaults to postgres.instances 2 (HA), which needs "
                    "provider cloudnative-pg: set postgres.instances to 1 to use builtin",
                },
            ]
        }
    )

    tier: Tier = Field(description="development, staging or production; fills every default.")
    branch: str | None = Field(
        None,
        max_length=255,
        pattern=r"^[^\s]+$",
        description="Git branch that deploys here; a Release from another branch is refused. "
        "Defaults by tier: develop, staging, main.",
    )
    deploy: Deploy | None = Field(
        None, description="Deploy on push: the repository and image that update the Release."
    )
    app: App = Field(default_factory=App, description="Application settings.")
    strategy: Strategy = Field(default_factory=Strategy, description="Rollout strategy.")
    postgres: Postgres = Field(default_factory=Postgres, description="PostgreSQL database.")
    redis: Redis = Field(default_factory=Redis, description="Redis cache.")
    network: Network = Field(default_factory=Network, description="Private network.")
    route: Route = Field(default_factory=Route, description="Route from outside (HTTPS).")
    external: dict[str, ExternalService] = Field(
        default_factory=dict,
        description="External services by name (mongodb, upstash, sentry), wired from Secrets.",
    )
    deletion_policy: DeletionPolicy = Field(
        DeletionPolicy.RETAIN,
        description="Retain keeps data volumes and credentials when the Environment is "
        "deleted; Delete removes them.",
    )
    budget: Budget | None = Field(None, description="Monthly budget; status.overBudget above it.")
    suspend: bool = Field(False, description="Scale the app to zero; data services keep running.")
