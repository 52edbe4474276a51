"""
# Predicting the next frame from the phases

`PixelModel.predict_frames` encodes the last frames of patch sequences, turns the codes
forward and decodes them. Here the model predicts frames of the bundled real-motion clip
(`data/motion/trailer_bbb.mp4`, held out from training), and the error is compared with the
trivial baseline, copying the last frame.
"""

import matplotlib.pyplot as plt
import numpy as np

import csc
from csc.resources import motion_dir
from csc.video.reader import iter_frames

model = csc.pretrained()
p = model.patch_size
frames = np.stack(list(iter_frames(motion_dir() / "trailer_bbb.mp4", downsample=4,
                                   max_frames=230)))[200:]          # float32 (30, H, W)

# patch sequences: 4 frames in, the 5th to predict, on a grid of positions
rng = np.random.default_rng(0)
H, W = frames.shape[1:]
n, T = 64, 4
t0 = rng.integers(0, len(frames) - T - 1, n)
r0 = rng.integers(0, H - p, n)
c0 = rng.integers(0, W - p, n)
P = np.stack([frames[t:t + T + 1, r:r + p, c:c + p] for t, r, c in zip(t0, r0, c0)])
past, truth = P[:, :T], P[:, T]

# %%
# Errors relative to copying the last frame (below 1: better than holding still).
copy_error = np.sum((past[:, -1] - truth) ** 2)
for method in ("phase", "translation", "warp"):
    pred = model.predict_frames(past, n_ahead=1, method=method)[:, 0]
    print(f"{method:12s} {np.sum((pred - truth) ** 2) / copy_error:.3f} × copy-last-frame")

# %%
# One sequence: its last frame, the true next frame and the `warp` prediction.
pred = model.predict_frames(past, n_ahead=1, method="warp")[:, 0]
i = int(np.argmax(np.sum((past[:, -1] - truth) ** 2, axis=(1, 2))))  # the one that moves most
fig, axes = plt.subplots(1, 3, figsize=(7, 2.6))
for ax, img, title in zip(axes, (past[i, -1], truth[i], pred[i]),
                          ("last frame", "true next frame", "predicted (warp)")):
    ax.imshow(img, cmap="gray", vmin=0, vmax=1)
    ax.set_title(title)
    ax.axis("off")
plt.show()
