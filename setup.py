"""Install csc: complex-valued sparse coding of video (Cadieu & Olshausen 2012)."""
from pathlib import Path

from setuptools import find_packages, setup

setup(
    name="csc",
    version="0.1.0",
    description="Complex-valued sparse coding of video: amplitudes (form) and phases (motion), "
    "CPU (NumPy + Numba) and GPU (CuPy + CUDA).",
    long_description=Path(__file__).with_name("README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    python_requires=">=3.11",
    # kernels/ and data/ stay at the top of the repository and install as csc.kernels / csc.data
    packages=[*find_packages(include=["csc", "csc.*"]), "csc.kernels", "csc.data"],
    package_dir={"csc.kernels": "kernels", "csc.data": "data"},
    package_data={"csc.kernels": ["*.cu", "*.cuh", "*.md"],
                  "csc.data": ["*.md", "LICENSE*", "videos/*", "heldout/*", "motion/*", "stills/*",
                               "pretrained/*"]},
    install_requires=[
        "numpy>=1.24",
        "scipy>=1.10",
        "numba>=0.58",
        "imageio>=2.31",
        "av>=11",
        "tqdm>=4.60",
        "matplotlib>=3.7",
        "scikit-learn>=1.3",  # the estimator API, and the real-valued sparse coding baseline
        # scaling out: learning on a Dask cluster, whole videos encoded into Zarr stores. The
        # distributed extra pins distributed to dask's own release, so pip does not backtrack
        # through distributed's versions looking for one that matches
        "dask[array,distributed]>=2024.1",
        "zarr>=3",
    ],
    extras_require={
        "gpu": ["cupy-cuda12x>=13"],
        # libnvrtc, the compiler CuPy uses: lets `python -m csc.selfcheck` and the tests compile
        # the kernels exactly as CuPy will, without a GPU
        "nvrtc": ["nvidia-cuda-nvrtc-cu12; platform_system == 'Linux'"],
        "test": ["pytest>=7.2", "pytest-xdist>=3", "cvxpy>=1.4", "clarabel>=0.6",
                 "scikit-image>=0.21", "ruff>=0.5", "import-linter>=2",
                 "nvidia-cuda-nvrtc-cu12; platform_system == 'Linux'"],
        # the documentation site (mkdocs.yml): `mkdocs build --strict`
        "docs": ["mkdocs>=1.6", "mkdocs-material>=9.5", "mkdocstrings[python]>=0.26",
                 "mkdocs-gallery>=0.10"],
        "bench": ["skglm>=0.3", "spams-bin>=2.6", "threadpoolctl>=3", "pymoten>=0.1"],
    },
    entry_points={
        "console_scripts": [
            # one command with subcommands; the csc-* scripts below are the same tools
            "csc=csc.cli.main:main",
            "csc-learn=csc.cli.learn:main",
            "csc-analyze=csc.cli.analyze:main",
            "csc-factorization=csc.cli.factorization:main",
            "csc-second-layer=csc.cli.second_layer:main",
            "csc-transfer=csc.cli.transfer:main",
            "csc-predict=csc.cli.predict:main",
            "csc-planted=csc.cli.planted:main",
            "csc-benchmark=csc.cli.benchmark:main",
            "csc-encode-video=csc.cli.encode_video:main",
            "csc-stream=csc.cli.stream:main",
            "csc-selfcheck=csc.selfcheck:main",
        ],
    },
)
