"""Packaging for curate.

`install_requires` is what Beam workers need to curate (no torch): Dataflow stages this package
with `--setup_file ./setup.py`. Training dependencies live in the `train` extra; the `dev` extra
adds everything the test suite needs (it includes `train`).
"""

from setuptools import find_packages, setup

CURATE = [
    "apache-beam>=2.77,<3",
    "pyarrow>=14,<26",
    "numpy>=1.26,<2.5",
    "datasketch>=1.6",
    "mmh3>=4",
    "xxhash>=3",
    "tokenizers>=0.19",
    "datasets>=2.19",
    "zstandard>=0.22",
    "pyyaml>=6",
    "jinja2>=3",
    "matplotlib>=3.8",
    "scipy>=1.11",
    "great-expectations>=1.0",
    "alt-profanity-check>=1.5",
]
TRAIN = [
    # A range that the local CPU wheel (2.13.0) satisfies: pip then installs nothing more, and a
    # GPU user's own CUDA build is kept.
    "torch>=2.4",
    "transformers>=4.45",
    "peft>=0.13",
    "safetensors>=0.4",
]
DEV = TRAIN + ["pytest>=8", "pytest-timeout>=2", "hypothesis>=6", "ruff>=0.6"]

setup(
    name="curate",
    version="0.1.0",
    description="Beam-native corpus curation into tokenized Arrow shards, with a LoRA training stage",
    python_requires=">=3.10",
    packages=find_packages(include=["pipelines*", "transforms*", "quality*", "train*"]),
    package_data={
        "quality": ["lexicons/*.txt", "report/templates/*"],
        "pipelines": ["ablate/templates/*"],
    },
    install_requires=CURATE,
    extras_require={"train": TRAIN, "dev": DEV, "gcp": ["apache-beam[gcp]>=2.77,<3"]},
    entry_points={"console_scripts": ["curate=pipelines.cli:main"]},
)
