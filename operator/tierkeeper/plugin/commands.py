"""The plugin's writes: each one small merge patch the operator acts on, made with the
user's credentials. They say what they asked for; what the operator then does (or why it
cannot) shows in `get` and in the object's Events."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tierkeeper.models.release import ABORT_ANNOTATION, RETRY_ANNOTATION, ROLLBACK_ANNOTATION
from tierkeeper.plugin.cluster import Cluster
from tierkeeper.plugin.drill import start_drill


@dataclass(frozen=True)
class Command:
    help: str
    run: Callable[[Cluster, str], str]


def _annotate(annotation: str, what: str) -> Callable[[Cluster, str], str]:
    def run(cluster: Cluster, name: str) -> str:
        release = cluster.release_named(name)
        release_name = release["metadata"]["name"]
        phase = (release.get("status") or {}).get("phase") or "no phase yet"
        patch = {"metadata": {"annotations": {annotation: "true"}}}
        cluster.merge_patch("releases", release_name, patch)
        return f"Release {release_name} ({phase}): {what} asked for ({annotation}=true)"

    return run


def promote(cluster: Cluster, name: str) -> str:
    release = cluster.release_named(name)
    release_name = release["metadata"]["name"]
    phase = (release.get("status") or {}).get("phase")
    cluster.merge_patch("releases", release_name, {"spec": {"promote": True}})
    note = "" if phase == "AwaitingPromotion" else f"; it is {phase}, not AwaitingPromotion"
    return f"Release {release_name}: spec.promote set to true{note}"


def _suspend(value: bool) -> Callable[[Cluster, str], str]:
    def run(cluster: Cluster, name: str) -> str:
        cluster.environment(name)  # a clear NotFound rather than the API's 404
        cluster.merge_patch("environments", name, {"spec": {"suspend": value}})
        state = "paused: the app scales to zero pods" if value else "resumed"
        return f"Environment {name} {state} (spec.suspend: {str(value).lower()})"

    return run


COMMANDS = {
    "promote": Command("switch a Manual release awaiting promotion (spec.promote: true)", promote),
    "abort": Command(
        "stop a rollout before its switch: traffic stays, the new pods go",
        _annotate(ABORT_ANNOTATION, "abort"),
    ),
    "rollback": Command(
        "traffic back to the standby colour (or the previous image, rolling)",
        _annotate(ROLLBACK_ANNOTATION, "rollback"),
    ),
    "retry": Command(
        "roll a failed, aborted or rolled-back image out again",
        _annotate(RETRY_ANNOTATION, "retry"),
    ),
    "pause": Command("suspend the Environment: the app at zero pods", _suspend(True)),
    "resume": Command("resume a suspended Environment", _suspend(False)),
    "drill": Command("restore the latest backup into a scratch instance now", start_drill),
}
