"""From video files to a learned pixel model: reading, scene cuts, clip sampling, whitening,
the `PixelModel` (dictionary + whitener) and the training run; `camera` renders synthetic
camera motion over still photographs, for use alongside real clips. Back from a model to whole
videos: `encode_video` (their codes as lazy Dask arrays, chunk by chunk) and `code_store`
(those codes in Zarr stores, written resumably and read back)."""
