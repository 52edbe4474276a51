"""
# Learning units from video

What `csc learn` does, from Python and at a small scale: 64 complex units of 10×10 pixels
learned in 600 updates from the bundled clip and the synthetic camera over the bundled stills
(about half a minute on 2 cores). The run folder receives the model, its history and figures,
as the command's does. Localised quadrature pairs start to form; the pretrained model took
9,000 updates of 128 units of 16×16.
"""

import tempfile

import matplotlib.pyplot as plt
import numpy as np

from csc.analysis import first_layer
from csc.plotting.bases import bases_image
from csc.resources import videos_dir
from csc.training.config import TrainConfig
from csc.training.run import train

out = tempfile.mkdtemp()
cfg = TrainConfig(video_dir=str(videos_dir()), out=out, patch_size=10, n_components=64,
                  n_frames=8, n_updates=600, batch_size=16, whiten_patches=20_000,
                  cache_frames=600, checkpoint_every=600, seed=0)
model = train(cfg, progress=False)
print(model)

# %%
# Energy per frame over the updates, from the run's history.
energy = np.asarray(model.coder.history_["energy"])
plt.figure(figsize=(5, 3))
plt.plot(energy, alpha=0.4)
plt.plot(np.convolve(energy, np.ones(25) / 25, mode="valid"))
plt.xlabel("update")
plt.ylabel("energy per frame")
plt.show()

# %%
# The units in whitened space (real | imaginary | envelope), and the paper's form measures
# beside random units.
plt.figure(figsize=(8, 6))
plt.imshow(np.ma.masked_invalid(bases_image(first_layer.whitened_bases(model))), cmap="gray",
           vmin=0, vmax=1)
plt.axis("off")
plt.show()
for name, m in first_layer.model_measures(model).items():
    print(f"{name:17s} quadrature pairs {m['quadrature']:.2f}, "
          f"localisation {m['localisation']:.2f}")
