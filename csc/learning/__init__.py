"""Dictionary learning rules (DESIGN.md §3) and the unit normalisations they share."""
from .normalize import NORMALIZATIONS, normalize_units
from .online import OnlineRule
from .sgd import SGDRule

RULES = {"sgd": SGDRule, "online": OnlineRule}

__all__ = ["NORMALIZATIONS", "normalize_units", "OnlineRule", "SGDRule", "RULES"]
