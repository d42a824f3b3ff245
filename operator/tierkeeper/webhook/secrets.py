"""The shared secrets deliveries are signed with: a Secret mounted as a directory, one file
per key. Key `default` signs for every repository; key `owner.name` for one repository
only, and wins over `default` (GitHub owners have no dots, so the first dot splits).

Read on every lookup: the kubelet updates a mounted Secret in place, and a rotated secret
takes effect without a restart. The hook itself needs no right to read Secrets.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DEFAULT_KEY = "default"


def key_for(repository: str) -> str:
    """The Secret key of one repository's secret: `acme/shop` -> `acme.shop`."""
    return repository.lower().replace("/", ".", 1)


@dataclass(frozen=True)
class SecretStore:
    directory: Path

    def secret_for(self, repository: str | None) -> bytes | None:
        """The repository's own secret, else the default one, else None."""
        keys = ([key_for(repository)] if repository and "/" in repository else []) + [DEFAULT_KEY]
        for key in keys:
            # A key is one path component: a repository name cannot reach outside.
            if "/" in key or key.startswith("."):
                continue
            try:
                value = (self.directory / key).read_bytes().strip()
            except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
                continue
            if value:
                return value
        return None
