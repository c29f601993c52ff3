#!/usr/bin/env bash
# Wheels a bare GPU machine that cannot reach a package index needs to run the SD benchmark
# (benchmarks/sd_throughput.py), for its Python 3.12 with CUDA torch, transformers, numpy,
# Pillow, PyYAML and huggingface-hub already installed. Run here, in the repository root:
#   bash scripts/gpu_wheels.sh            # -> .whl/ (git-ignored locally, ~10 MB)
# and there (see README, "SD throughput on a GPU"):
#   python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qxF '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> "$(git rev-parse --git-common-dir)/info/exclude"
PIP="${PIP:-.venv/bin/pip}"
"$PIP" download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  -d .whl \
  diffusers==0.42.1 pydantic==2.14.4 pydantic-core==2.50.5 annotated-types==0.8.0 \
  typing-inspection==0.4.5 importlib-metadata==10.2.0
ls -la .whl
