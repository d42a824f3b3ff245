"""`tierkeeper webhook`: deploy on push. A public endpoint that turns signed GitHub
deliveries and generic CI calls into a new image on the bound Release of each matching
Environment.

One job per module: `events` reads what a delivery asks for, `guard` decides whether to
believe it (signature, replay, limits), `secrets` finds the shared secrets, `matching`
picks the Environments and their Releases, `deploy` writes the Releases, `server` is the
HTTP edge and `metrics` counts every answer.
"""
