"""What a learned model does: phases and their changes, amplitude/phase factorisation statistics,
the geometry of the bases, the second layer (motion and form units) and transform transfer."""
from csc.analysis.factorization import (amplitude, change_decomposition, factorization_stats,
                                        lag1_autocorrelation, phase, phase_velocity,
                                        real_sparse_codes, wrap)

__all__ = ["amplitude", "phase", "wrap", "phase_velocity", "lag1_autocorrelation",
           "change_decomposition", "factorization_stats", "real_sparse_codes"]
