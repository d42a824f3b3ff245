"""The Secrets of the team's that spec.external names: the app cannot start without them.

They are not ours: the operator reads them (never writes), and an Environment refused
for want of one looks again now and then (handlers/environment.py), since watching the
team's Secrets would mean watching every Secret of the cluster.
"""

from __future__ import annotations

from tierkeeper.apply.client import ApiClient
from tierkeeper.apply.errors import NotFound
from tierkeeper.models import ResolvedEnvironment
from tierkeeper.status.conditions import Observation, observe

EXTERNAL_SECRET_MISSING = "ExternalSecretMissing"


async def missing_secrets(kube: ApiClient, env: ResolvedEnvironment) -> Observation | None:
    missing = []
    for key, service in sorted(env.spec.external.items()):
        ref = service.secret_ref
        try:
            secret = await kube.get("v1", "Secret", env.namespace, ref.name)
        except NotFound:
            missing.append(f"{key}: Secret {ref.name} does not exist")
            continue
        if ref.key not in (secret.get("data") or {}):
            missing.append(f"{key}: Secret {ref.name} has no key {ref.key}")
    if not missing:
        return None
    return observe(
        "Ready",
        False,
        EXTERNAL_SECRET_MISSING,
        "; ".join(missing) + ": create it in this namespace or fix spec.external",
    )
