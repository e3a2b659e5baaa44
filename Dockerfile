# Worker container for curate on Dataflow (and on Flink/Spark with --environment_type DOCKER):
# Beam's official Python SDK image with curate and its pinned dependencies already installed, so
# a worker starts without pip-installing great-expectations, scipy, scikit-learn, datasets and
# matplotlib. docs/dataflow.md has the build, push and launch commands.
#
#   docker build -t REGION-docker.pkg.dev/PROJECT/REPO/curate-worker:$(git rev-parse --short HEAD) .
#
# BEAM_VERSION must equal the apache-beam pin in constraints.txt and the Beam that launches the
# job; the image's Python (3.11) must equal the launcher's.
ARG BEAM_VERSION=2.78.0
FROM apache/beam_python3.11_sdk:${BEAM_VERSION}

# What setup.py packages, and the pins the test suite last passed with (constraints.txt only
# constrains versions: torch, listed there for the train extra, is not installed).
WORKDIR /tmp/curate-src
COPY setup.py pyproject.toml constraints.txt ./
COPY pipelines ./pipelines
COPY transforms ./transforms
COPY quality ./quality
COPY train ./train

# The gcp extra: workers read and write gs:// through Beam's GCS filesystem. Installed, not
# editable, and the sources removed: workers import the package as setup.py ships it; the import
# below fails the build on a broken install. Rebuild the image when the code changes.
RUN pip install --no-cache-dir -c constraints.txt ".[gcp]" \
    && cd / && rm -rf /tmp/curate-src \
    && python -c "import pipelines.run, quality.report"

# As `curate run` sets for its local workers: no Hugging Face Hub look-ups on workers.
ENV HF_HUB_OFFLINE=1

# The base image's entrypoint (/opt/apache/beam/boot) starts the SDK harness; keep it.
WORKDIR /
