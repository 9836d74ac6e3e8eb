#!/usr/bin/env bash
# Install svdd_ray and everything its tests and jobs need into the active Python environment.
# Torch: an existing install is kept (GPU users bring their own build); otherwise torch==2.13.0 is
# pinned and pip installs whatever build of it the configured index gives for this platform (on this
# project's CI machine the CPU build on disk; from PyPI on Linux x86_64 a CUDA build). For the CPU-only
# build, first: pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install -q --upgrade pip
python -c "import torch" 2>/dev/null || python -m pip install -q torch==2.13.0
python -m pip install -q -e ".[dev,chem,images,dna,rna]"
# The MOSES SMILES ship inside the molsets wheel; its own dependencies are not needed to read them.
python -m pip install -q --no-deps molsets==0.3.1
# The DNase sites of the DNA domain ship inside the dnadiffusion wheel; only its data file is used.
python -m pip install -q --no-deps dnadiffusion==0.0.0.dev0
