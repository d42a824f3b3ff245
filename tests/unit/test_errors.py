"""API errors told apart by what the API server's Status says, not by its wording."""

from __future__ import annotations

from tierkeeper.apply.errors import Conflict, Forbidden, error_for


def test_forbidden_in_a_terminating_namespace_is_told_from_a_refusal_by_rbac() -> None:
    # As kube-apiserver's NamespaceLifecycle admission plugin answers a create.
    terminating = {
        "reason": "Forbidden",
        "message": 'configmaps "x" is forbidden: unable to create new content in namespace '
        "t because it is being terminated",
        "details": {
            "causes": [
                {
                    "type": "NamespaceTerminating",
                    "message": "namespace t is being terminated",
                    "field": "metadata.namespace",
                }
            ]
        },
    }
    rbac = {"reason": "Forbidden", "message": 'configmaps "x" is forbidden: User "u" cannot'}
    error = error_for(403, terminating, "PATCH x")
    assert isinstance(error, Forbidden) and error.namespace_terminating
    refused = error_for(403, rbac, "PATCH x")
    assert isinstance(refused, Forbidden) and not refused.namespace_terminating


def test_conflict_names_the_fields_another_manager_owns() -> None:
    body = {"details": {"causes": [{"field": ".spec.replicas"}]}}
    error = error_for(409, body, "PATCH x")
    assert isinstance(error, Conflict) and error.fields == {".spec.replicas"}
