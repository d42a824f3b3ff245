"""Pure renderers: a resolved Environment (and its rollout) in, child manifests out.

No client, no clock, no settings: everything a manifest depends on is an argument.
"""

from __future__ import annotations

from dataclasses import dataclass

from tierkeeper.models import ResolvedEnvironment
from tierkeeper.models.rollout import AppRollout, Color
from tierkeeper.models.route import RouteKind
from tierkeeper.models.site import Site
from tierkeeper.models.status import MigrationPhase
from tierkeeper.render.app import (
    render_active_service,
    render_color_deployment,
    render_preview_service,
    render_rolling_deployment,
)
from tierkeeper.render.backup import (
    render_backup_cronjob,
    render_backups_pvc,
)
from tierkeeper.render.common import Component, Manifest
from tierkeeper.render.drill import (
    RBAC_API_VERSION,
    render_drill_cronjob,
    render_drill_result,
    render_drill_role,
    render_drill_role_binding,
    render_drill_script,
    render_drill_service_account,
)
from tierkeeper.render.migration import builtin_source, render_replication_access, replicating
from tierkeeper.render.network import (
    NETWORK_API_VERSION,
    render_app_policy,
    render_drill_policy,
    render_postgres_policy,
    render_redis_policy,
)
from tierkeeper.render.objectstore import render_object_store_script
from tierkeeper.render.offsite import render_offsite_mirror
from tierkeeper.render.postgres import (
    CNPG_API_VERSION,
    render_cnpg_cluster,
    render_cnpg_scheduled_backup,
    render_postgres_service,
    render_postgres_statefulset,
)
from tierkeeper.render.redis import (
    render_redis_config,
    render_redis_service,
    render_redis_statefulset,
)
from tierkeeper.render.route import (
    CERT_MANAGER_API_VERSION,
    GATEWAY_API_VERSION,
    INGRESS_API_VERSION,
    render_certificate,
    render_preview_route,
    render_route,
)
from tierkeeper.render.volumes import AS_WANTED, VolumeSizes


@dataclass(frozen=True)
class Child:
    """One child the Environment may have; `manifest` None means it must not exist."""

    api_version: str
    kind: str
    name: str
    manifest: Manifest | None


def app_children(env: ResolvedEnvironment, rollout: AppRollout) -> list[Child]:
    """The app's Deployments and Services, as the rollout has them: what a Release step
    changes."""
    names = env.names
    return [
        Child("v1", "Service", names.app_service, render_active_service(env, rollout)),
        Child("v1", "Service", names.preview_service, render_preview_service(env, rollout)),
        Child(
            "apps/v1",
            "Deployment",
            names.rolling_deployment,
            render_rolling_deployment(env, rollout),
        ),
        *(
            Child(
                "apps/v1",
                "Deployment",
                names.color_deployment(color.value),
                render_color_deployment(env, rollout, color),
            )
            for color in Color
        ),
    ]


def data_children(
    env: ResolvedEnvironment,
    sizes: VolumeSizes = AS_WANTED,
    migration: MigrationPhase | None = None,
) -> list[Child]:
    """Every other child but the password Secrets: the data services and backups, their
    volumes at `sizes` where given; the builtin database kept as it was while `migration`
    moves it to CloudNativePG.

    The Secrets are left out because their passwords are generated once, at creation, by
    the reconcile (see `reconcile.credentials`).
    """
    names = env.names
    builtin = builtin_source(env, migration)
    statefulset = replicating(render_postgres_statefulset(builtin, sizes), env, migration)
    return [
        Child("v1", "Service", names.postgres, render_postgres_service(builtin)),
        Child("apps/v1", "StatefulSet", names.postgres, statefulset),
        Child(
            "v1",
            "ConfigMap",
            names.postgres_replication_access,
            render_replication_access(env, migration),
        ),
        Child(CNPG_API_VERSION, "Cluster", names.postgres, render_cnpg_cluster(env, migration)),
        Child(
            CNPG_API_VERSION,
            "ScheduledBackup",
            names.scheduled_backup,
            render_cnpg_scheduled_backup(env),
        ),
        Child("v1", "ConfigMap", names.redis_config, render_redis_config(env)),
        Child("v1", "Service", names.redis, render_redis_service(env)),
        Child("apps/v1", "StatefulSet", names.redis, render_redis_statefulset(env, sizes)),
        # Never wanted: earlier versions kept the backup script in this ConfigMap, and an
        # upgraded operator removes it (the dump Job carries the script now).
        Child("v1", "ConfigMap", names.backup_script, None),
        Child("v1", "PersistentVolumeClaim", names.backups_pvc, render_backups_pvc(env, sizes)),
        Child("batch/v1", "CronJob", names.backup_cronjob, render_backup_cronjob(env)),
        Child(
            "v1",
            "ConfigMap",
            names.object_store_script,
            render_object_store_script(env),
        ),
        Child("batch/v1", "CronJob", names.offsite_mirror, render_offsite_mirror(env)),
        Child("v1", "ConfigMap", names.drill_script, render_drill_script(env)),
        Child("v1", "ConfigMap", names.drill_result, render_drill_result(env)),
        Child("v1", "ServiceAccount", names.drill_identity, render_drill_service_account(env)),
        Child(RBAC_API_VERSION, "Role", names.drill_identity, render_drill_role(env)),
        Child(
            RBAC_API_VERSION, "RoleBinding", names.drill_identity, render_drill_role_binding(env)
        ),
        Child("batch/v1", "CronJob", names.drill_cronjob, render_drill_cronjob(env)),
    ]


def network_children(env: ResolvedEnvironment, site: Site) -> list[Child]:
    """Who may reach whom: a NetworkPolicy per component that accepts connections."""
    policy = env.names.network_policy
    return [
        Child(NETWORK_API_VERSION, "NetworkPolicy", policy(c.value), manifest)
        for c, manifest in (
            (Component.APP, render_app_policy(env, site)),
            (Component.POSTGRES, render_postgres_policy(env)),
            (Component.REDIS, render_redis_policy(env)),
            (Component.DRILL, render_drill_policy(env)),
        )
    ]


ROUTE_API_VERSIONS = {
    RouteKind.INGRESS: INGRESS_API_VERSION,
    RouteKind.HTTP_ROUTE: GATEWAY_API_VERSION,
}


def route_children(env: ResolvedEnvironment, site: Site, in_flight: bool) -> list[Child]:
    """The routes from outside, of both kinds (the one not asked for must not exist), and
    the Certificate of an HTTPRoute."""
    names = env.names
    routes = [
        Child(api_version, kind.value, name, manifest)
        for kind, api_version in ROUTE_API_VERSIONS.items()
        for name, manifest in (
            (names.route, render_route(env, site, kind)),
            (names.preview_route, render_preview_route(env, site, kind, in_flight)),
        )
    ]
    certificate = Child(
        CERT_MANAGER_API_VERSION,
        "Certificate",
        names.route_certificate,
        render_certificate(env, site),
    )
    return [*routes, certificate]


def render_children(
    env: ResolvedEnvironment, rollout: AppRollout, site: Site | None = None
) -> list[Child]:
    """Every child of the Environment except the password Secrets, wanted or not (routes
    as they are with no rollout in flight)."""
    site = site or Site()
    return [
        *app_children(env, rollout),
        *data_children(env),
        *network_children(env, site),
        *route_children(env, site, in_flight=False),
    ]


def wanted(children: list[Child]) -> list[Manifest]:
    return [child.manifest for child in children if child.manifest is not None]
