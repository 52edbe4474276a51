"""From video files to a learned pixel model: reading, scene cuts, clip sampling, whitening,
the `PixelModel` (dictionary + whitener) and the training run."""
