"""Video: reading files and streams, scene cuts, clip sampling, whitening, the synthetic camera
and the sprite world, the `PixelModel` (dictionary + whitener + second layer). Back from a model
to whole videos: `encode_video` (their codes as lazy Dask arrays, chunk by chunk), the Zarr
stores of those codes (`code_store` their format, `code_writer` resumable writing,
`code_reader` reading back) and `stream` (each frame's codes as it arrives). The training run
is `csc.training`."""
