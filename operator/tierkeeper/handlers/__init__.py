"""kopf handlers: importing this package registers them."""

from tierkeeper.handlers import environment, lifecycle, release

__all__ = ["environment", "lifecycle", "release"]
