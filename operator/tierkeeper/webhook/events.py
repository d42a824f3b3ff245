"""What a delivery asks for: GitHub's `workflow_run`, `push`, `package`, `registry_package`
and the generic deploy call, read into one `Change` (or a `Skip` saying why not).

Pure: no clock, no client. Only the fields used are read, so the rest of GitHub's payloads
may change freely; a payload of a known event that lacks one of them is `BadPayload`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

# The events that can deploy; any other GitHub event is answered quietly and counted.
DEPLOYING_EVENTS = ("workflow_run", "push", "package", "registry_package")
# The name the generic call is counted and reported under.
GENERIC = "deploy"

_HEX_COMMIT = re.compile(r"^[0-9a-fA-F]{4,64}$")
_URL = re.compile(r"^https?://\S+$")
_BRANCH_REF = "refs/heads/"

PayloadT = TypeVar("PayloadT", bound=BaseModel)


@dataclass(frozen=True)
class Change:
    """A commit of a branch of a repository to deploy, and its image unless each
    Environment's `deploy.imageTemplate` makes it."""

    event: str
    delivery: str
    repository: str
    branch: str
    commit: str | None
    image: str | None
    url: str | None
    # A plain push: only Environments that do not wait for CI take it.
    before_ci: bool = False


@dataclass(frozen=True)
class Skip:
    """A well-formed delivery that deploys nothing; `outcome` is its metric label."""

    outcome: str
    message: str


class BadPayload(ValueError):
    """A delivery of a known event whose body is not what that event carries."""


# owner/name as GitHub allows them: what a repository's own secret may be looked up by.
REPOSITORY_PATTERN = r"^[A-Za-z0-9][-A-Za-z0-9]*/[-._A-Za-z0-9]+$"


class _Payload(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _Repository(_Payload):
    full_name: str = Field(max_length=200)


class _WorkflowRun(_Payload):
    head_branch: str | None = None
    head_sha: str
    conclusion: str | None = None
    html_url: str | None = None


class _WorkflowRunEvent(_Payload):
    action: str
    workflow_run: _WorkflowRun
    repository: _Repository


class _HeadCommit(_Payload):
    url: str | None = None


class _PushEvent(_Payload):
    ref: str
    after: str
    deleted: bool = False
    repository: _Repository
    head_commit: _HeadCommit | None = None


class _Tag(_Payload):
    name: str | None = None
    digest: str | None = None


class _ContainerMetadata(_Payload):
    tag: _Tag | None = None


class _PackageVersion(_Payload):
    target_commitish: str | None = None
    package_url: str | None = None
    html_url: str | None = None
    container_metadata: _ContainerMetadata | None = None


class _Registry(_Payload):
    type: str | None = None


class _Package(_Payload):
    package_type: str
    package_version: _PackageVersion | None = None
    registry: _Registry | None = None


class _PackageEvent(_Payload):
    action: str
    package: _Package
    repository: _Repository


class GenericCall(BaseModel):
    """The generic deploy call of any CI: signed like GitHub's, and dated, so that a
    recorded call cannot be sent again once the replay window is over."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    repository: str = Field(max_length=200, pattern=REPOSITORY_PATTERN)
    branch: str = Field(min_length=1, max_length=255, pattern=r"^[^\s]+$")
    commit: str = Field(pattern=r"^[0-9a-fA-F]{4,64}$")
    image: str = Field(min_length=1, max_length=512, pattern=r"^[^\s]+$")
    timestamp: int = Field(description="Unix seconds when the call was made.")
    url: str | None = Field(None, max_length=2048, pattern=r"^https?://\S+$")


def _commit(value: str | None) -> str | None:
    return value if value and _HEX_COMMIT.match(value) else None


def _url(value: str | None) -> str | None:
    return value if value and len(value) <= 2048 and _URL.match(value) else None


def _validated(model: type[PayloadT], payload: Any, event: str) -> PayloadT:
    try:
        return model.model_validate(payload)
    except ValidationError as error:
        fields = sorted({".".join(str(p) for p in e["loc"]) or "(body)" for e in error.errors()})
        raise BadPayload(f"{event} payload lacks or mistypes: {', '.join(fields[:5])}") from None


def parse_github(event: str, delivery: str, payload: Any) -> Change | Skip:
    """The change a GitHub delivery asks for, or why it asks for none."""
    if event == "workflow_run":
        return _workflow_run(_validated(_WorkflowRunEvent, payload, event), delivery)
    if event == "push":
        return _push(_validated(_PushEvent, payload, event), delivery)
    if event in ("package", "registry_package"):
        return _package(event, _validated(_PackageEvent, payload, event), delivery)
    if event == "ping":
        return Skip("ping", "pong: the hook is reachable and its signature checks out")
    return Skip("ignored", f"event {event or '(none)'} does not deploy")


def _workflow_run(body: _WorkflowRunEvent, delivery: str) -> Change | Skip:
    run = body.workflow_run
    if body.action != "completed":
        return Skip("not_completed", f"workflow run {body.action}, not completed")
    if run.conclusion != "success":
        return Skip("not_successful", f"workflow run concluded {run.conclusion or 'nothing'}")
    if not run.head_branch:
        return Skip("no_branch", "workflow run of no branch (a tag or a fork's pull request)")
    return Change(
        event="workflow_run",
        delivery=delivery,
        repository=body.repository.full_name,
        branch=run.head_branch,
        commit=_commit(run.head_sha),
        image=None,
        url=_url(run.html_url),
    )


def _push(body: _PushEvent, delivery: str) -> Change | Skip:
    if not body.ref.startswith(_BRANCH_REF):
        return Skip("not_a_branch", f"push to {body.ref}, not to a branch")
    if body.deleted:
        return Skip("branch_deleted", "push that deletes the branch")
    return Change(
        event="push",
        delivery=delivery,
        repository=body.repository.full_name,
        branch=body.ref.removeprefix(_BRANCH_REF),
        commit=_commit(body.after),
        image=None,
        url=_url(body.head_commit.url if body.head_commit else None),
        before_ci=True,
    )


def _package(event: str, body: _PackageEvent, delivery: str) -> Change | Skip:
    package = body.package
    version = package.package_version
    if body.action != "published":
        return Skip("not_published", f"package {body.action}, not published")
    registry = (package.registry.type if package.registry else None) or ""
    if "container" not in (package.package_type.lower(), registry.lower()):
        return Skip("not_a_container", f"{package.package_type} package, not a container image")
    if version is None or not version.target_commitish:
        return Skip("no_branch", "published image names no branch (target_commitish)")
    image = container_image(version)
    if image is None:
        return Skip("no_image", "published package names no image with a tag or digest")
    return Change(
        event=event,
        delivery=delivery,
        repository=body.repository.full_name,
        branch=version.target_commitish,
        commit=None,
        image=image,
        url=_url(version.html_url),
    )


def container_image(version: _PackageVersion) -> str | None:
    """`name:tag`, else `name@digest`: the published image as a Release names it. Registries
    take repository names in lower case only, so the name is lowered (GitHub keeps the
    owner's capitals in `package_url`)."""
    if not version.package_url:
        return None
    name = version.package_url
    if ":" in name.rsplit("/", 1)[-1]:
        name = name.rsplit(":", 1)[0]
    name = name.lower()
    tag = version.container_metadata.tag if version.container_metadata else None
    if tag and tag.name:
        reference = f"{name}:{tag.name}"
    elif tag and tag.digest:
        reference = f"{name}@{tag.digest}"
    else:
        return None
    return reference if not re.search(r"\s", reference) and len(reference) <= 512 else None


def parse_generic(delivery: str, payload: Any) -> tuple[Change, int]:
    """The change a generic call asks for, and when it says it was made."""
    call = _validated(GenericCall, payload, GENERIC)
    change = Change(
        event=GENERIC,
        delivery=delivery,
        repository=call.repository,
        branch=call.branch,
        commit=call.commit,
        image=call.image,
        url=call.url,
    )
    return change, call.timestamp


def repository_of(payload: Any) -> str | None:
    """The repository a body claims to be from, read before its signature is checked: it
    only chooses which secret the signature must match."""
    if not isinstance(payload, dict):
        return None
    named = payload.get("repository")
    if isinstance(named, dict):
        named = named.get("full_name")
    # Anything else (a NUL, a path) names no repository: the default secret applies.
    if isinstance(named, str) and re.fullmatch(REPOSITORY_PATTERN, named):
        return named
    return None
