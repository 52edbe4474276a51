"""
# Transferring motion to an unseen pattern

The phases carry the motion apart from the pattern: the phase changes of a moving source
patch, applied to another patch's codes, move that patch the same way. This example moves the
held-out still by (0.25, 0.5) px a frame, estimates the translation from the phases of a
source patch, and moves a patch elsewhere in the image, of which only the first frame is
given, with it (`csc.analysis.transfer.predict`). Baselines: the static first frame, and the
first frame shifted in pixels by the true displacement (the best any method can do from one
frame).
"""

import matplotlib.pyplot as plt
import numpy as np
from scipy.ndimage import shift

import csc
from csc.analysis import transfer
from csc.resources import heldout_dir
from csc.video.camera import load_stills

model = csc.pretrained()
p = model.patch_size
still = load_stills(heldout_dir())[0].astype(np.float64)  # coffee.png: (H, W) gray in [0, 1]

T, v = 8, np.array([0.25, 0.5])
moved = np.stack([shift(still, t * v, order=3, mode="reflect") for t in range(T)])
H, W = still.shape
rng = np.random.default_rng(1)
corr = {"transfer": [], "static frame": [], "pixel shift (bound)": []}
for _ in range(20):  # 20 random (source, target) pairs of positions
    (r, r2), (c, c2) = rng.integers(8, H - p - 8, 2), rng.integers(8, W - p - 8, 2)
    source = moved[:, r:r + p, c:c + p]      # (T, p, p): the motion to transfer
    truth = moved[:, r2:r2 + p, c2:c2 + p]   # (T, p, p): where the target really goes
    target = truth[0]                        # (p, p): only its first frame is given
    predictions = {"transfer": transfer.predict(model, source, target, method="translation"),
                   "static frame": transfer.static_baseline(target, T),
                   "pixel shift (bound)": transfer.pixel_shift(target, np.arange(T)[:, None] * v)}
    for name, frames in predictions.items():
        corr[name].append(transfer.scores(frames, truth)["correlation"])

# %%
# Mean correlation with the true frames, frame by frame.
plt.figure(figsize=(5, 3.5))
for name, c in corr.items():
    plt.plot(np.mean(c, axis=0), marker="o", label=name)
    print(f"{name:20s}", np.round(np.mean(c, axis=0)[1:], 2))
plt.xlabel("frame")
plt.ylabel("correlation with the truth")
plt.legend()
plt.show()

# %%
# The last pair: source, truth and transfer, frame by frame.
fig, axes = plt.subplots(3, T, figsize=(1.3 * T, 4.2))
for row, (frames, name) in enumerate(((source, "source"), (truth, "truth"),
                                      (predictions["transfer"], "transfer"))):
    for t in range(T):
        axes[row, t].imshow(frames[t], cmap="gray")
        axes[row, t].set_xticks([])
        axes[row, t].set_yticks([])
    axes[row, 0].set_ylabel(name)
plt.show()
