"""kopf handlers: importing this package registers them."""

from tierkeeper.handlers import environment, lifecycle

__all__ = ["environment", "lifecycle"]
