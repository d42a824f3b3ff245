"""The steps of a reconcile: what is written, in which order, and what is refused.

A change the Environment cannot take as it is (a volume would shrink, the database would
move to another provider, the API server would refuse a child) is refused for all of its
checks with one reason, before anything is written.
"""

CHANGE_NOT_ALLOWED = "ChangeNotAllowed"
