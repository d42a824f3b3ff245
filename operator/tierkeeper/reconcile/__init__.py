"""Orchestration: the steps of one reconcile, written as a flat list; no kopf here."""
