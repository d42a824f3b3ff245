"""An in-memory stand-in for `ApiClient`, for the unit tests of the Release machines.

It implements the calls a Release step makes (status writes, server-side apply, get, list,
merge patch, delete, Event creation), keeps what they wrote, and records each call in
order, so a test asserts on what the cluster holds and on the order of the writes. It is
for the fast machine tests only: behaviour against a real API server is the integration
suite's.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, cast

from pydantic import BaseModel

from tierkeeper.apply.client import ApiClient, Object, merge_patch_from
from tierkeeper.apply.errors import ApiError, Conflict, NotFound
from tierkeeper.models.status import KOPF_FIELDS

# (kind, namespace, name) of a stored object.
ObjectId = tuple[str, str | None, str]


@dataclass(frozen=True)
class Call:
    """One request: its verb (`apply`, `get`, `write_status`...), kind and object name."""

    verb: str
    kind: str
    name: str


def _matches(labels: dict[str, str], selector: str) -> bool:
    wanted = dict(term.split("=", 1) for term in selector.split(",") if term)
    return all(labels.get(key) == value for key, value in wanted.items())


def _merge(target: dict[str, Any], patch: dict[str, Any]) -> None:
    """JSON merge patch (RFC 7386): None deletes a key."""
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


@dataclass
class FakeApi:
    """The objects of one fake cluster, the Events posted, and every call made."""

    objects: dict[ObjectId, Object] = field(default_factory=dict)
    events: list[Object] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    # Verbs that fail (an API server gone away) until `recover()`.
    failing: set[str] = field(default_factory=set)
    # Kinds the API server does not serve (their CRD is not installed).
    unserved: set[str] = field(default_factory=set)

    def client(self) -> ApiClient:
        """This fake where the code expects an `ApiClient` (it has the methods a step calls)."""
        return cast(ApiClient, self)

    def outage(self, *verbs: str) -> None:
        self.failing.update(verbs)

    def recover(self) -> None:
        self.failing.clear()

    def _call(self, verb: str, kind: str, name: str) -> None:
        self.calls.append(Call(verb, kind, name))
        if verb in self.failing:
            raise ApiError(503, {"message": "the API server is unavailable"}, f"{verb} {name}")

    def put(self, body: Object) -> None:
        """Store an object as it is (a Release, a Pod), without recording a call."""
        meta = body["metadata"]
        self.objects[(body["kind"], meta.get("namespace"), meta["name"])] = copy.deepcopy(body)

    def stored(self, kind: str, namespace: str | None, name: str) -> Object | None:
        return self.objects.get((kind, namespace, name))

    # The ApiClient methods a Release step calls.

    async def write_status(
        self, kind: str, namespace: str, name: str, status: BaseModel, previous: BaseModel
    ) -> None:
        self._call("write_status", kind, name)
        # A merge patch of the status subresource, as ApiClient sends it: kopf's fields stay.
        body = self.objects[(kind, namespace, name)]
        after = status.model_dump(by_alias=True, mode="json", exclude=KOPF_FIELDS)
        before = previous.model_dump(by_alias=True, mode="json", exclude=KOPF_FIELDS)
        _merge(body.setdefault("status", {}), merge_patch_from(before, after))

    async def get(self, api_version: str, kind: str, namespace: str | None, name: str) -> Object:
        self._call("get", kind, name)
        body = self.objects.get((kind, namespace, name))
        if body is None:
            raise NotFound(404, {"message": f"{kind} {name} not found"}, f"GET {name}")
        return copy.deepcopy(body)

    async def list(
        self, api_version: str, kind: str, namespace: str | None, selector: str
    ) -> list[Object]:
        self._call("list", kind, selector)
        return [
            copy.deepcopy(body)
            for (stored_kind, stored_namespace, _), body in self.objects.items()
            if stored_kind == kind
            and stored_namespace == namespace
            and _matches(body["metadata"].get("labels") or {}, selector)
        ]

    async def apply(self, manifest: Object, *, force: bool = True) -> Object:
        """Server-side apply: the spec as sent; the generation moves when the spec does,
        and the status (what the controllers report) stays until a test changes it."""
        meta = manifest["metadata"]
        self._call("apply", manifest["kind"], meta["name"])
        key = (manifest["kind"], meta.get("namespace"), meta["name"])
        old = self.objects.get(key)
        body = copy.deepcopy(manifest)
        generation = 1 if old is None else old["metadata"]["generation"]
        if old is not None and old.get("spec") != body.get("spec"):
            generation += 1
        body["metadata"]["generation"] = generation
        body["status"] = copy.deepcopy(old.get("status", {})) if old else {}
        self.objects[key] = body
        return copy.deepcopy(body)

    async def create(self, manifest: Object) -> Object:
        """An Event goes to `events`; any other object is stored, unless its name is taken."""
        meta = manifest["metadata"]
        self._call("create", manifest["kind"], meta.get("name") or meta.get("generateName", ""))
        if manifest["kind"] == "Event":
            self.events.append(copy.deepcopy(manifest))
            return copy.deepcopy(manifest)
        if manifest["kind"] in self.unserved:
            raise NotFound(404, {"message": "the server could not find the resource"}, "POST")
        key = (manifest["kind"], meta.get("namespace"), meta["name"])
        if key in self.objects:
            raise Conflict(409, {"reason": "AlreadyExists"}, f"POST {meta['name']}")
        self.objects[key] = {**copy.deepcopy(manifest), "status": {}}
        return copy.deepcopy(self.objects[key])

    async def merge_patch(
        self,
        api_version: str,
        kind: str,
        namespace: str | None,
        name: str,
        patch: Object,
        *,
        subresource: str = "",
    ) -> Object:
        self._call("merge_patch", kind, name)
        body = self.objects[(kind, namespace, name)]
        _merge(body, patch)
        return copy.deepcopy(body)

    async def json_patch(
        self, api_version: str, kind: str, namespace: str | None, name: str, ops: list[Object]
    ) -> Object:
        """`test`, `add` and `replace` of object members; a failed test changes nothing."""
        self._call("json_patch", kind, name)
        body = copy.deepcopy(self.objects[(kind, namespace, name)])
        for op in ops:
            *parents, last = op["path"].strip("/").split("/")
            target = body
            for part in parents:
                target = target[part]
            if op["op"] == "test" and target.get(last) != op["value"]:
                raise ApiError(422, {"message": f"test of {op['path']} failed"}, "PATCH")
            if op["op"] in ("add", "replace"):
                target[last] = copy.deepcopy(op["value"])
        self.objects[(kind, namespace, name)] = body
        return copy.deepcopy(body)

    async def delete(
        self,
        api_version: str,
        kind: str,
        namespace: str | None,
        name: str,
        propagation: str = "Background",
    ) -> None:
        self._call("delete", kind, name)
        if self.objects.pop((kind, namespace, name), None) is None:
            raise NotFound(404, {"message": f"{kind} {name} not found"}, f"DELETE {name}")
