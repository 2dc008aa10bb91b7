# Official Triton: exported versions run on its native onnxruntime backend; the Python backend hosts the router
# and versions that keep the Ludwig path (Ludwig and this package), and runs ONNX with onnxruntime when the native
# backend cannot serve a set of versions (their classes differ). 25.02 is built on Ubuntu 24.04, whose Python 3.12 is the
# version Ludwig 0.17 requires (the 24.x images ship Python 3.10).
ARG TRITON_VERSION=25.02
FROM nvcr.io/nvidia/tritonserver:${TRITON_VERSION}-py3
# Fail the build, not the first request, if a different base image brings another Python.
RUN python3 -c "import sys; assert sys.version_info[:2] == (3, 12), sys.version"
COPY constraints.txt /opt/ccp/constraints.txt
RUN python3 -m pip install --no-cache-dir --break-system-packages -c /opt/ccp/constraints.txt \
        ludwig onnxruntime pandas pyarrow
COPY plugins/champion_challenger /opt/ccp/plugins/champion_challenger
# The Python backend stub ignores PYTHONPATH; model.py and the router read CCP_TRITON_PYTHONPATH.
# model.py also sets the C.UTF-8 locale itself (the stub starts in ASCII, which breaks Ludwig's YAML).
ENV LC_ALL=C.UTF-8 LANG=C.UTF-8 CCP_TRITON_PYTHONPATH=/opt/ccp/plugins
