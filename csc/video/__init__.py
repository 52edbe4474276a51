"""From video files to a learned pixel model: reading, scene cuts, clip sampling, whitening,
the `PixelModel` (dictionary + whitener) and the training run; `camera` renders synthetic
camera motion over still photographs, for use alongside real clips."""
