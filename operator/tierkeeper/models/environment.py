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

from tierkeeper.models.base import Model
from tierkeeper.models.units import Duration, Quantity, Schedule


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


class Strategy(Model):
    """How a Release reaches this Environment."""

    type: StrategyType = Field(StrategyType.ROLLING, description="Rolling or BlueGreen.")
    blue_green: BlueGreen = Field(
        default_factory=BlueGreen, description="Blue-green settings (type BlueGreen)."
    )


class Pool(Model):
    """Connection-pool settings handed to the app as environment variables."""

    max_connections: int = Field(10, ge=1, le=10000, description="Maximum open connections.")
    max_lifetime: Duration = Field("30m", description="Maximum lifetime of one connection.")
    max_idle: Duration = Field("10m", description="Maximum idle time of one connection.")


class SecretKeyRef(Model):
    """A key of a Secret in the Environment's namespace."""

    name: str = Field(
        pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$",
        max_length=253,
        description="Secret name.",
    )
    key: str = Field(
        pattern=r"^[-._a-zA-Z0-9]+$", max_length=253, description="Key within the Secret."
    )


class Pitr(Model):
    """Point-in-time recovery: continuous WAL archiving into the backup object store."""

    enabled: bool = Field(
        False,
        description="Archive WAL continuously for point-in-time recovery; needs "
        "backup.objectStore. The tier's default applies only where a store is configured.",
    )
    window_days: int = Field(7, ge=1, le=365, description="Days that can be recovered to.")
    archive_timeout: Duration = Field(
        "5m",
        description="A WAL segment is archived at least this often while the database "
        "writes: the most data a lost volume can take with it (the RPO).",
    )


class S3Credentials(Model):
    """Keys of Secrets in the Environment's namespace holding the store's credentials."""

    access_key_id: SecretKeyRef = Field(description="The access key ID.")
    secret_access_key: SecretKeyRef = Field(description="The secret access key.")


class ObjectStore(Model):
    """An S3-compatible bucket that WAL and base backups are written to."""

    bucket: str = Field(
        pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", max_length=63, description="Bucket name."
    )
    path: str = Field(
        "",
        pattern=r"^([A-Za-z0-9._-]+/)*[A-Za-z0-9._-]*$",
        max_length=512,
        description="Path prefix inside the bucket; the database's folder goes below it.",
    )
    endpoint: str | None = Field(
        None,
        pattern=r"^https?://[^\s/]+(/[^\s]*)?$",
        max_length=1024,
        description="S3 endpoint URL; absent means AWS S3.",
    )
    region: str | None = Field(
        None, pattern=r"^[a-z0-9-]+$", max_length=64, description="Region of the bucket."
    )
    credentials: S3Credentials = Field(description="Where the credentials are kept.")
    ca_bundle: SecretKeyRef | None = Field(
        None, description="A PEM CA bundle that signs the endpoint's certificate."
    )

    @property
    def destination(self) -> str:
        """The store's URL as barman-cloud takes it: s3://bucket/path."""
        return f"s3://{self.bucket}/{self.path}".rstrip("/")


class Backup(Model):
    """Scheduled database backups."""

    enabled: bool = Field(True, description="Take scheduled backups.")
    schedule: Schedule = Field("0 3 * * *", description="Cron schedule, in UTC.")
    retention_days: int = Field(7, ge=1, le=3650, description="Days a backup is kept.")
    pitr: Pitr = Field(default_factory=Pitr, description="Point-in-time recovery.")
    object_store: ObjectStore | None = Field(
        None,
        description="Where base backups and WAL go (S3). Without it, backups are dumps "
        "on a volume in the Environment's namespace and there is no PITR.",
    )
    offsite_object_store: ObjectStore | None = Field(
        None,
        description="A second store (another region) that every base backup and WAL "
        "segment also reaches; a restore works from either one alone.",
    )


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


class RouteKind(StrEnum):
    INGRESS = "Ingress"
    HTTP_ROUTE = "HTTPRoute"


class IssuerKind(StrEnum):
    ISSUER = "Issuer"
    CLUSTER_ISSUER = "ClusterIssuer"


# A DNS subdomain (RFC 1123), lowercase: what Ingress and HTTPRoute accept as a host.
HOSTNAME_RULE = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
HOSTNAME_MAX = 253
# Room for the preview host's "preview-" in front of the first label.
PREVIEW_PREFIX = "preview-"


class Issuer(Model):
    """A cert-manager issuer that signs the route's certificate."""

    name: str = Field(min_length=1, max_length=253, description="Name of the issuer.")
    kind: IssuerKind = Field(
        IssuerKind.CLUSTER_ISSUER, description="Issuer (this namespace) or ClusterIssuer."
    )


class RouteTls(Model):
    """TLS for the route's hosts: a Secret of the team's, or one cert-manager fills."""

    secret_name: str | None = Field(
        None,
        max_length=253,
        description="kubernetes.io/tls Secret with the certificate; with an issuer, the "
        "Secret cert-manager writes (default NAME-tls).",
    )
    issuer: Issuer | None = Field(None, description="cert-manager issuer of the certificate.")


class ParentRef(Model):
    """A Gateway the HTTPRoute attaches to."""

    name: str = Field(min_length=1, max_length=253, description="Name of the Gateway.")
    namespace: str | None = Field(
        None, max_length=63, description="Namespace of the Gateway (default: this one)."
    )
    section_name: str | None = Field(
        None, max_length=253, description="Listener of the Gateway to attach to."
    )


class Route(Model):
    """How the app is reached from outside the cluster."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "!has(self.hosts) || self.hosts.all(h, h.matches('"
                    # CEL's string literals take escapes: the regex's backslashes doubled.
                    + HOSTNAME_RULE.replace("\\", "\\\\")
                    + "'))",
                    "message": "route.hosts: every host must be a lowercase DNS name "
                    "(letters, digits, '-' and '.'; no scheme, port, path or wildcard)",
                    "fieldPath": ".hosts",
                },
                {
                    "rule": "!has(self.kind) || self.kind != 'HTTPRoute' || "
                    "(has(self.parentRefs) && size(self.parentRefs) > 0)",
                    "message": "route.parentRefs: an HTTPRoute needs at least one Gateway",
                    "fieldPath": ".parentRefs",
                },
            ]
        }
    )

    enabled: bool = Field(
        True, description="Route traffic from outside to the app (the tier may turn it off)."
    )
    hosts: list[str] = Field(
        default_factory=list,
        max_length=16,
        description="Host names; none: the operator's host template gives one.",
        json_schema_extra={
            "items": {"type": "string", "maxLength": HOSTNAME_MAX - len(PREVIEW_PREFIX)}
        },
    )
    path: str = Field(
        "/", max_length=1024, pattern=r"^/[^\s]*$", description="Path prefix routed to the app."
    )
    kind: RouteKind = Field(RouteKind.INGRESS, description="Ingress or Gateway API HTTPRoute.")
    class_name: str | None = Field(
        None, max_length=253, description="IngressClass of the Ingress (default: the cluster's)."
    )
    parent_refs: list[ParentRef] = Field(
        default_factory=list, max_length=8, description="Gateways of the HTTPRoute."
    )
    tls: RouteTls | None = Field(None, description="TLS for the hosts.")


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
IMAGE_PLACEHOLDERS = ("sha", "shortSha", "branch")
IMAGE_TEMPLATE_PATTERN = r"^([^{}\s]|\{(" + "|".join(IMAGE_PLACEHOLDERS) + r")\})+$"


class Deploy(Model):
    """Deploy on push: which repository's pushes and builds update this Environment's Release
    (`tierkeeper webhook`)."""

    repository: str = Field(
        max_length=200,
        pattern=r"^[A-Za-z0-9][-A-Za-z0-9]*/[-._A-Za-z0-9]+$",
        description="Git repository, as owner/name (e.g. acme/shop), whose events deploy here.",
    )
    image_template: str | None = Field(
        None,
        max_length=512,
        pattern=IMAGE_TEMPLATE_PATTERN,
        description="Image of a commit, for events that carry no image (workflow_run, push): "
        "{sha}, {shortSha} (7 characters) and {branch} (characters other than "
        "letters, digits, '.', '_' and '-' become '-') are filled in, e.g. "
        "ghcr.io/acme/shop:sha-{sha}.",
    )
    wait_for_ci: bool = Field(
        True,
        alias="waitForCI",
        description="Deploy only once a workflow run succeeded (workflow_run), a package was "
        "published or CI called; false also deploys on a push, at once.",
    )


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
