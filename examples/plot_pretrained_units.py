"""
# The pretrained model's units

`csc.pretrained()` is a `PixelModel` learned on natural motion with the paper's prior. Each
complex unit is a pair of real patterns, its real and imaginary parts; the paper's units are
localised, oriented quadrature pairs. This example draws the first 32 units and measures the
share of quadrature pairs and the localisation against random units of the same space.
"""

import matplotlib.pyplot as plt
import numpy as np

import csc
from csc.analysis import first_layer
from csc.plotting.bases import bases_image

model = csc.pretrained()
print(model)

# %%
# Units in whitened pixel space, where the codes are inferred: real part | imaginary part |
# amplitude envelope of each unit.
B = first_layer.whitened_bases(model)  # complex (128, 16, 16)
plt.figure(figsize=(8, 6))
plt.imshow(np.ma.masked_invalid(bases_image(B[:32])), cmap="gray", vmin=0, vmax=1)
plt.axis("off")
plt.title("units 0-31: real | imaginary | envelope")
plt.show()

# %%
# The paper's two measures of form, beside complex Gaussian units drawn through the same
# whitener (the chance level).
for name, m in first_layer.model_measures(model).items():
    print(f"{name:17s} quadrature pairs {m['quadrature']:.2f}, "
          f"localisation {m['localisation']:.2f}")
