"""tierkeeper: Railway-style environments and releases on your own Kubernetes cluster."""

GROUP = "tierkeeper.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
FIELD_MANAGER = "tierkeeper"
# On an Environment whose deletion the operator has work in (deletionPolicy Retain); the
# install's admission policy names it too (manifests/guard/deletion-guard.yaml).
FINALIZER = f"{GROUP}/finalizer"
