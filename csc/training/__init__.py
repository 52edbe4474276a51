"""The training run of `csc learn`: its settings (`config`), its clip cache of videos and
synthetic camera (`clips`), where its shards run (`shards`: in-process or on Dask) and the run
itself (`run`: checkpoints, resume, figures and the measures logged as it learns)."""
