"""`tierkeeper restore ENV (--to-time T | --latest) --into NEW [--apply]`: the in-cluster
restore. A new Environment NEW that starts from ENV's backups (postgres.bootstrap.recovery),
printed as YAML, or created with --apply. ENV is only read: it keeps running as it is.

NEW takes ENV's tier and its database, cache and network settings (the same object store
too: NEW archives into its own folder there, under its own name). Not its route, deploy,
branch or budget: those belong to ENV's traffic and pipeline.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from tierkeeper import API_VERSION
from tierkeeper.models import EnvironmentSpec

# What NEW copies of ENV's spec.
CARRIED = ("tier", "app", "postgres", "redis", "network", "deletionPolicy")


def recovery_environment(
    source: Mapping[str, Any], into: str, target_time: datetime | None
) -> dict[str, Any]:
    """The manifest of NEW: ENV's settings (CARRIED), its database from ENV's backups."""
    spec = source.get("spec") or {}
    new = {key: spec[key] for key in CARRIED if key in spec}
    recovery: dict[str, Any] = {"from": source["metadata"]["name"]}
    if target_time is not None:
        recovery["targetTime"] = target_time.isoformat()
    new["postgres"] = {**(new.get("postgres") or {}), "bootstrap": {"recovery": recovery}}
    # What the operator will accept (ENV's spec came from the cluster, so it should).
    EnvironmentSpec.model_validate(new)
    return {
        "apiVersion": API_VERSION,
        "kind": "Environment",
        "metadata": {"name": into, "namespace": source["metadata"]["namespace"]},
        "spec": new,
    }


def run_into(args: argparse.Namespace) -> int:
    """Read ENV, print NEW's manifest; with --apply, create NEW (never replace one)."""
    from kubernetes.client.exceptions import ApiException

    from tierkeeper.plugin.cluster import GROUP, VERSION, Cluster, NotFound, Target

    if args.to_time is not None and args.to_time.tzinfo is None:
        return _fail(2, "--to-time needs a time zone (e.g. 2026-12-03T10:00:00Z)")
    kubeconfig = Path(args.kubeconfig) if args.kubeconfig else None
    cluster = Cluster(Target(kubeconfig=kubeconfig, namespace=args.namespace))
    try:
        source = cluster.environment(args.environment_name)
        manifest = recovery_environment(source, args.into, args.to_time)
        if not args.apply:
            print(yaml.safe_dump(manifest, sort_keys=False), end="")
            return 0
        cluster.custom.create_namespaced_custom_object(
            GROUP, VERSION, cluster.namespace, "environments", manifest
        )
    except NotFound as error:
        return _fail(1, str(error))
    except ValidationError as error:
        return _fail(1, f"{args.environment_name}'s spec cannot be carried over: {error}")
    except ApiException as error:
        if error.status == 409:
            return _fail(1, f"Environment {args.into} exists already: choose another --into")
        return _fail(1, f"the API server refused it: {error.status} {error.reason}")
    finally:
        cluster.close()
    target = args.to_time.isoformat() if args.to_time else "the latest archived WAL"
    print(
        f"environment {args.into} created in namespace {cluster.namespace}: its database "
        f"starts from {args.environment_name}'s backups at {target}"
    )
    return 0


def _fail(code: int, message: str) -> int:
    print(f"tierkeeper restore: error: {message}", file=sys.stderr)
    return code
