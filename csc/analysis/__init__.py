"""What a learned model does: phases and their changes, amplitude/phase factorisation statistics,
the geometry of the bases, the second layer (motion and form units, `second_layer`), motion-unit
tuning curves (`motion_tuning`) and transform transfer (`transfer`, `transfer_trials`)."""
from csc.analysis.factorization import (
    change_decomposition,
    factorization_stats,
    lag1_autocorrelation,
    real_sparse_codes,
)
from csc.core.phases import amplitude, phase, phase_velocity, wrap

__all__ = ["amplitude", "phase", "wrap", "phase_velocity", "lag1_autocorrelation",
           "change_decomposition", "factorization_stats", "real_sparse_codes"]
