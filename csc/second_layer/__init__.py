"""The second layer (Cadieu & Olshausen 2012, docs/design.md §5): motion units learned from the
phase velocities of first-layer codes, form units learned from their log-amplitudes, and joint
inference of both layers.

- `motion`: `MotionUnits`, their energy and inference (L-BFGS);
- `form`: `FormUnits`, their energy and inference (FISTA);
- `features`: normalised log-amplitudes (phase velocities are `csc.core.phases`);
- `codes`: pixel movies → codes under the second layer's prior → unit activities;
- `joint`: first-layer codes and motion units inferred together;
- `base`: what both estimators share (scikit-learn API, learning step, model-file arrays).
"""
from csc.second_layer.codes import (
    PAPER_CODE_PRIOR,
    form_activities,
    motion_activities,
    second_layer_codes,
)
from csc.second_layer.features import LOG_AMPLITUDE_FLOOR, log_amplitude_features
from csc.second_layer.form import (
    FormUnits,
    energy_form,
    form_prox_residual,
    infer_form,
)
from csc.second_layer.joint import PAPER_FEEDBACK, infer_joint, joint_energy
from csc.second_layer.motion import (
    PAPER_ON_FRACTION,
    PAPER_THRESHOLD,
    MotionUnits,
    energy_motion,
    infer_motion,
    on_fraction_threshold,
)

__all__ = ["MotionUnits", "FormUnits", "energy_motion", "infer_motion", "energy_form",
           "infer_form", "form_prox_residual", "log_amplitude_features", "LOG_AMPLITUDE_FLOOR",
           "PAPER_THRESHOLD", "PAPER_ON_FRACTION", "on_fraction_threshold",
           "PAPER_CODE_PRIOR", "second_layer_codes", "motion_activities",
           "form_activities", "infer_joint", "joint_energy", "PAPER_FEEDBACK"]
