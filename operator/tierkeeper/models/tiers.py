"""The tier defaults table of SPEC §1, as data: the only place these values live.

`pitr.enabled` here is the tier's promise; resolve() keeps it only where
postgres.backup.objectStore gives the WAL somewhere to go.
"""

from __future__ import annotations

from typing import Any

from tierkeeper.models.environment import Tier

# Partial specs in wire form (camelCase); anything not listed takes the field's base default.
TIER_DEFAULTS: dict[Tier, dict[str, Any]] = {
    Tier.DEVELOPMENT: {
        "branch": "develop",
        "app": {"replicas": 1, "healthCheck": None, "restartPolicy": {"maxRetries": 3}},
        "strategy": {"type": "Rolling"},
        "postgres": {
            "storage": "1Gi",
            "instances": 1,
            "provider": "builtin",
            "backup": {
                "schedule": "0 3 * * *",
                "retentionDays": 7,
                "pitr": {"enabled": False, "archiveTimeout": "5m"},
            },
        },
        "redis": {"maxMemory": "128Mi", "evictionPolicy": "allkeys-lru", "persistence": "none"},
        # Routes from outside (spec.route); a tier may turn them off.
        "route": {"enabled": True},
        "deletionPolicy": "Delete",
    },
    Tier.STAGING: {
        "branch": "staging",
        "app": {
            "replicas": 2,
            "healthCheck": {"path": "/health", "intervalSeconds": 30},
            "restartPolicy": {"maxRetries": 5},
        },
        "strategy": {"type": "Rolling"},
        "postgres": {
            "storage": "5Gi",
            "instances": 1,
            "provider": "builtin",
            "backup": {
                "schedule": "0 3 * * *",
                "retentionDays": 14,
                "pitr": {"enabled": True, "archiveTimeout": "5m"},
                "drill": {"schedule": "0 5 1 */3 *"},
            },
        },
        "redis": {
            "maxMemory": "512Mi",
            "evictionPolicy": "allkeys-lru",
            "persistence": "snapshot",
        },
        # Routes from outside (spec.route); a tier may turn them off.
        "route": {"enabled": True},
        "deletionPolicy": "Retain",
    },
    Tier.PRODUCTION: {
        "branch": "main",
        "app": {
            "replicas": 2,
            "healthCheck": {"path": "/health", "intervalSeconds": 30, "strict": True},
            "restartPolicy": {"maxRetries": 5, "delaySeconds": 30},
        },
        "strategy": {
            "type": "BlueGreen",
            # The seed's "manual backups before major deployments".
            "blueGreen": {"rollbackWindow": "2h", "backupBeforeSwitch": True},
        },
        "postgres": {
            "storage": "20Gi",
            "instances": 2,
            "provider": "cloudnative-pg",
            "pool": {"maxConnections": 20},
            "backup": {
                "schedule": "0 * * * *",
                "retentionDays": 30,
                # archiveTimeout bounds the RPO: 1 minute plus one upload, well inside
                # production's 5-minute target (SPEC: RPO <= 5 min in production).
                "pitr": {"enabled": True, "windowDays": 7, "archiveTimeout": "1m"},
                # A monthly drill: a backup that cannot be restored is found within a
                # month, far inside the retention that still holds older good ones.
                "drill": {"schedule": "0 5 1 * *"},
            },
        },
        "redis": {"maxMemory": "2Gi", "evictionPolicy": "allkeys-lru", "persistence": "aof"},
        # Routes from outside (spec.route); a tier may turn them off.
        "route": {"enabled": True},
        "deletionPolicy": "Retain",
    },
}

# Reference monthly cost of each tier at its defaults (SPEC §1), in US dollars.
REFERENCE_COST_USD: dict[Tier, float] = {
    Tier.DEVELOPMENT: 8.0,
    Tier.STAGING: 23.0,
    Tier.PRODUCTION: 42.0,
}
