"""The one writer of an Environment's app children: its Deployments and Services.

Both the Environment's reconcile and a Release step write them, each with the rollout it
knows; they go through `write_app`, which renders the newest rollout a Release step has
decided, under the ledger's lock, and records what it wrote.
"""

from __future__ import annotations

from tierkeeper.apply.children import Owner, converge, versions
from tierkeeper.apply.client import ApiClient
from tierkeeper.models import ResolvedEnvironment
from tierkeeper.models.child import LiveChildren
from tierkeeper.models.rollout import AppRollout
from tierkeeper.reconcile.ledger import WriteLedger
from tierkeeper.render import app_children


async def write_app(
    kube: ApiClient,
    ledger: WriteLedger,
    env: ResolvedEnvironment,
    owner: Owner,
    live: LiveChildren,
    recorded: AppRollout,
    *,
    names_checked: bool = False,
) -> LiveChildren:
    """Write the app's children for the rollout a Release step decided last, else for
    `recorded` (the one in the Release's status). `names_checked`: the caller has just
    made sure that no wanted name belongs to another owner. Returns what was written."""
    key = (env.namespace, env.name)
    async with ledger.app_lock(key):
        rollout = ledger.decided.get(key, recorded)
        children = app_children(env, rollout)
        with ledger.expecting(key, children):
            written = await converge(
                kube,
                env,
                children,
                live,
                owner,
                check_names=not names_checked,
                holders=ledger,
                ours=ledger.versions.get(key, {}),
            )
        ledger.record(key, children, versions(written))
        ledger.applied_rollout[key] = rollout
    return written
