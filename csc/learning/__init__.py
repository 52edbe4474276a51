"""Dictionary learning: the update rules (sgd, online), the unit normalisations they share, and
the `ComplexSparseCoding` estimator that drives them."""
from csc.learning.errors import TrainingDiverged
from csc.learning.normalize import NORMALIZATIONS, normalize_units
from csc.learning.online import OnlineRule
from csc.learning.sgd import SGDRule

RULES = {"sgd": SGDRule, "online": OnlineRule}

__all__ = ["NORMALIZATIONS", "normalize_units", "OnlineRule", "SGDRule", "RULES",
           "TrainingDiverged"]
