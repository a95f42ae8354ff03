#!/usr/bin/env bash
# One device run (issue 9), prepared to fit the lent GPU's short time: the ZeroGPU harness tests, the "stream"
# memory mode's CUDA checks, then `bench/gpu.py --quick` under a hard deadline. Results land under $OUT.
# From here: run(command="bash bench/device/run.sh", carry=[".whl"], timeout_s=600) after bench/device/wheels.sh.
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
out="${OUT:-/tmp/device-out}"; mkdir -p "$out"
start=$(date +%s)
elapsed() { echo $(( $(date +%s) - start )); }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
  > "$out/pip.txt" 2>&1 || { tail -20 "$out/pip.txt"; exit 1; }
export PYTHONPATH=/tmp/site
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  python3 -c "import torch, diffusers, transformers, torchao, gradio; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'diffusers', diffusers.__version__, 'transformers', transformers.__version__, 'torchao', torchao.__version__, 'gradio', gradio.__version__)" 2>&1 | tail -1
  echo "setup_s $(elapsed)"; } | tee "$out/env.txt"
# Each step has its own limit, so a hang in one still leaves time, and output, for the rest.
timeout 180 python3 -m pytest -q -s -p no:cacheprovider -rs tests/test_zerogpu.py > "$out/zerogpu.txt" 2>&1
echo "zerogpu rc=$? at $(elapsed) s"; grep -v -i "warn" "$out/zerogpu.txt" | tail -15
timeout 60 python3 -m pytest -q -p no:cacheprovider -rs tests/test_memory_stream.py tests/test_resident_decode.py -k cuda > "$out/stream.txt" 2>&1
echo "stream rc=$? at $(elapsed) s"; tail -5 "$out/stream.txt"
left=$(( 560 - $(elapsed) )); deadline=$(( left < 360 ? left : 360 ))
python3 bench/gpu.py --quick --out "$out/bench" --budget-s $(( deadline - 10 )) --deadline-s "$deadline" \
  > "$out/bench.txt" 2>&1
echo "bench rc=$? at $(elapsed) s"; grep -E "ERROR|Error" "$out/bench.txt" | tail -10
head -40 "$out/bench/results.md" 2>/dev/null
