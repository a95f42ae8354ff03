#!/usr/bin/env bash
# Fill .whl/ with what the lent GPU machine lacks (it has torch and transformers; not diffusers, torchao, gradio,
# spaces and their needs), as Python 3.12 x86-64 wheels, for `bench/device/run.sh`. Run here, once per checkout:
#   bash bench/device/wheels.sh && grep -qx '/.whl/' .git/info/exclude || echo /.whl/ >> .git/info/exclude
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p .whl
platforms=(--platform manylinux_2_28_x86_64 --platform manylinux_2_24_x86_64 --platform manylinux_2_17_x86_64
           --platform manylinux2014_x86_64 --platform manylinux1_x86_64)
# The versions requirements.txt pins, and the needs of gradio and spaces the GPU machine does not have.
wheels=(diffusers==0.42.1 torchao==0.18.0 gradio==6.31.0 gradio_client==2.7.2 spaces==0.51.3 hf_gradio==0.4.1
        fastapi==0.165.0 starlette==1.10.0 uvicorn==0.54.0 pydantic==2.12.5 pydantic_core==2.41.5
        annotated_types==0.8.0 annotated_doc==0.0.7 typing_inspection==0.4.5 typing_extensions==4.16.0
        groovy==0.1.2 orjson==3.13.0 pydub==0.25.1 python_multipart==0.0.34 pytz==2026.6 safehttpx==0.1.7
        semantic_version==2.10.0 tomlkit==0.14.0 brotli==1.2.1 importlib_metadata==10.2.0 lazy_importer==0.1.0
        opentelemetry_api==1.45.2)
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  "${platforms[@]}" -d .whl "${wheels[@]}"
du -sh .whl
