"""tierkeeper: Railway-style environments and releases on your own Kubernetes cluster."""

GROUP = "tierkeeper.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
FIELD_MANAGER = "tierkeeper"
