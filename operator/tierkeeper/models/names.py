"""Names of everything the operator creates: the one place they are spelled.

An Environment's name may be any DNS subdomain (253 characters, dots allowed), but
its children need DNS labels of at most 63 characters, and fewer for CronJobs
(52: the Job name gets an 11-character suffix) and StatefulSets (52: the
controller-revision-hash label is the name plus 11 characters). A name that does
not fit is shortened deterministically: a readable prefix plus a hash of the whole
Environment name, so two Environments never share a child name by truncation.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

DNS_LABEL_MAX = 63
SUFFIXED_CONTROLLER_MAX = 52
_HASH_LENGTH = 8
# The volumeClaimTemplate of both data StatefulSets; their claims are named after it.
DATA_CLAIM_TEMPLATE = "data"
_VALID_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


def fit_name(base: str, suffix: str = "", limit: int = DNS_LABEL_MAX) -> str:
    """`base + suffix` if a valid DNS-1035 label within `limit`, else a stable short form."""
    candidate = base + suffix
    if len(candidate) <= limit and _VALID_LABEL.match(candidate):
        return candidate
    digest = hashlib.sha256(base.encode()).hexdigest()[:_HASH_LENGTH]
    room = limit - len(suffix) - _HASH_LENGTH - 1
    prefix = re.sub(r"[^-a-z0-9]", "-", base.lower())[:room].strip("-")
    if not prefix or not prefix[0].isalpha():
        prefix = ("e" + prefix)[:room].rstrip("-")
    return f"{prefix}-{digest}{suffix}"


def label_value(value: str) -> str:
    """A label value (at most 63 characters) standing for `value`, shortened like names."""
    return fit_name(value)


@dataclass(frozen=True)
class ChildNames:
    """Names of one Environment's children (SPEC §2), derived from the Environment name."""

    environment: str

    def _name(self, suffix: str, limit: int = DNS_LABEL_MAX) -> str:
        return fit_name(self.environment, suffix, limit)

    @property
    def instance_label(self) -> str:
        return label_value(self.environment)

    @property
    def app_service(self) -> str:
        return self._name("")

    @property
    def preview_service(self) -> str:
        return self._name("-preview")

    @property
    def rolling_deployment(self) -> str:
        return self._name("-app")

    def color_deployment(self, color: str) -> str:
        return self._name(f"-{color}")

    @property
    def postgres(self) -> str:
        """StatefulSet and Service of the builtin database; Cluster of the CNPG one."""
        return self._name("-postgres", SUFFIXED_CONTROLLER_MAX)

    def pre_switch_backup(self, image: str, attempt: int) -> str:
        """The Job (or CloudNativePG Backup) of one rollout's pre-switch backup: the same for
        the same image and attempt, so an operator restarted mid-backup finds it again."""
        digest = hashlib.sha256(f"{image}#{attempt}".encode()).hexdigest()[:_HASH_LENGTH]
        return self._name(f"-preswitch-{digest}")

    @property
    def postgres_data(self) -> str:
        """The claim the database StatefulSet's template `data` makes for its one pod."""
        return f"{DATA_CLAIM_TEMPLATE}-{self.postgres}-0"

    @property
    def postgres_credentials(self) -> str:
        return self._name("-postgres-credentials")

    @property
    def postgres_replication_access(self) -> str:
        """The ConfigMap with the builtin database's pg_hba.conf while CloudNativePG copies it."""
        return self._name("-postgres-replication")

    @property
    def postgres_cnpg_rw_service(self) -> str:
        """The read-write Service CloudNativePG creates for the Cluster."""
        return self.postgres + "-rw"

    @property
    def redis(self) -> str:
        return self._name("-redis", SUFFIXED_CONTROLLER_MAX)

    @property
    def redis_data(self) -> str:
        """The claim the Redis StatefulSet's template `data` makes for its one pod."""
        return f"{DATA_CLAIM_TEMPLATE}-{self.redis}-0"

    @property
    def redis_config(self) -> str:
        return self._name("-redis-config")

    @property
    def redis_credentials(self) -> str:
        return self._name("-redis-credentials")

    @property
    def route(self) -> str:
        """The Ingress or HTTPRoute to the active Service."""
        return self._name("")

    @property
    def preview_route(self) -> str:
        """The Ingress or HTTPRoute to the preview Service, while a rollout is in flight."""
        return self._name("-preview")

    @property
    def route_certificate(self) -> str:
        """cert-manager's Certificate of an HTTPRoute's hosts, and its default Secret."""
        return self._name("-tls")

    @property
    def preview_tls(self) -> str:
        """The Secret cert-manager fills for the preview Ingress's host."""
        return self._name("-preview-tls")

    def network_policy(self, component: str) -> str:
        """The NetworkPolicy that says who may reach `component`'s pods."""
        return self._name(f"-{component}-policy")

    @property
    def backup_cronjob(self) -> str:
        return self._name("-postgres-backup", SUFFIXED_CONTROLLER_MAX)

    @property
    def backup_script(self) -> str:
        """The ConfigMap earlier versions kept the backup script in (removed on upgrade)."""
        return self._name("-backup-script")

    @property
    def backups_pvc(self) -> str:
        return self._name("-backups")

    @property
    def object_store_script(self) -> str:
        """The ConfigMap of the WAL-archiving and base-backup script."""
        return self._name("-object-store")

    @property
    def offsite_mirror(self) -> str:
        """The CronJob that copies a CloudNativePG database's primary store off-site."""
        return self._name("-postgres-offsite", SUFFIXED_CONTROLLER_MAX)

    @property
    def scheduled_backup(self) -> str:
        return self._name("-postgres-scheduled")

    @property
    def drill_cronjob(self) -> str:
        return self._name("-postgres-drill", SUFFIXED_CONTROLLER_MAX)

    @property
    def drill_script(self) -> str:
        return self._name("-drill-script")

    @property
    def drill_identity(self) -> str:
        """The drill pod's ServiceAccount, and its Role and RoleBinding."""
        return self._name("-drill-runner")

    @property
    def drill_cluster(self) -> str:
        """A CloudNativePG drill's scratch Cluster (CloudNativePG names its services
        `-rw`, `-ro` and its Secrets `-app`, `-superuser` after it)."""
        return self._name("-drill", SUFFIXED_CONTROLLER_MAX)

    @property
    def drill_check(self) -> str:
        """The Job that checks a CloudNativePG drill's scratch Cluster."""
        return self._name("-drill-check", SUFFIXED_CONTROLLER_MAX)

    @property
    def drill_result(self) -> str:
        """The ConfigMap a drill writes its result to (finishedAt, result, rtoSeconds,
        message), which status.backup.lastDrill reads."""
        return self._name("-drill")
