"""Import `kubernetes.aio` without the synchronous client beside it.

kubernetes 37 ships `kubernetes.aio` inside the `kubernetes` package, whose `__init__`
imports the whole synchronous client first: its own model classes, requests, oauthlib and
websocket. The operator and the webhook server talk to the API server through
`kubernetes.aio` alone (`apply/client.py`), and kopf imports the synchronous models only to
recognise them if a handler returns one, which ours never do. Entering the package without
running its `__init__` keeps all of that out of a process that lives as long as the
cluster does.
"""

from __future__ import annotations

import importlib.util
import sys
import types


def kubernetes_aio_only() -> None:
    """Make `kubernetes` a bare package (its sub-packages import as usual, `kubernetes.aio`
    among them) and `kubernetes.client` absent, before anything imports either.

    Invariant: called before the first import of `kubernetes` in the process; afterwards
    it would change nothing, so it does nothing."""
    if "kubernetes" in sys.modules:
        return
    spec = importlib.util.find_spec("kubernetes")
    if spec is None or spec.submodule_search_locations is None:
        return
    package = types.ModuleType("kubernetes")
    package.__spec__ = spec
    package.__path__ = list(spec.submodule_search_locations)
    sys.modules["kubernetes"] = package
    # None makes `import kubernetes.client` raise ImportError: kopf then treats the
    # synchronous client as not installed.
    sys.modules["kubernetes.client"] = None  # type: ignore[assignment]
