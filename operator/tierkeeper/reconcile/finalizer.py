"""The operator's finalizer: on exactly the Environments whose deletion has work to do.

Only an Environment that keeps its data on deletion (`deletionPolicy: Retain`) carries
it: its volumes and credentials must be detached before garbage collection takes its
children. One whose data goes with it is deleted by garbage collection alone, and is
created with one write fewer. The finalizer is put on and taken off as the policy
changes, and taken off at deletion once the data is detached.

Invariant: the finalizer is removed from a deleted Environment only after
`retain_on_deletion` returned; a failure leaves it on, and the reconcile is retried.
"""

from __future__ import annotations

import logging

from tierkeeper import API_VERSION, FINALIZER
from tierkeeper.apply.client import ApiClient, Object
from tierkeeper.reconcile.records import EnvRecord
from tierkeeper.reconcile.retention import keeps_data, retain_on_deletion

logger = logging.getLogger(__name__)


def finalizer_ops(record: EnvRecord, wanted: bool) -> list[Object]:
    """The JSON patch that puts on (`wanted`) or takes off our finalizer, over the list the
    record shows; empty if there is nothing to change. Over a list the record shows, a list
    that another controller changed since makes the patch fail as a whole (`test`), and
    the retry reads anew. Over none, the list is added untested (JSON patch cannot test
    that a member is absent): a finalizer another controller added in between would be
    replaced, a window as wide as the watch's lag."""
    present = list(record.finalizers)
    if (FINALIZER in present) == wanted:
        return []
    after = [*present, FINALIZER] if wanted else [f for f in present if f != FINALIZER]
    if not present:
        return [{"op": "add", "path": "/metadata/finalizers", "value": after}]
    return [
        {"op": "test", "path": "/metadata/finalizers", "value": present},
        {"op": "replace", "path": "/metadata/finalizers", "value": after},
    ]


async def keep_finalizer(kube: ApiClient, record: EnvRecord) -> None:
    """Our finalizer on the Environment exactly when its deletion policy keeps data."""
    ops = finalizer_ops(record, keeps_data(record.spec))
    if ops:
        await kube.json_patch(API_VERSION, "Environment", record.namespace, record.name, ops)


async def finalize(kube: ApiClient, record: EnvRecord) -> None:
    """A deleted Environment that carries our finalizer: detach its data (Retain), then
    let garbage collection go on."""
    if FINALIZER not in record.finalizers:
        return
    await retain_on_deletion(kube, record)
    ops = finalizer_ops(record, False)
    await kube.json_patch(API_VERSION, "Environment", record.namespace, record.name, ops)
    logger.info("%s/%s: finalizer removed, garbage collection goes on", *record.key)
