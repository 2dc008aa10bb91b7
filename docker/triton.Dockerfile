# Official Triton with the Python backend, plus Ludwig so the exported model.py can score.
ARG TRITON_VERSION=24.10
FROM nvcr.io/nvidia/tritonserver:${TRITON_VERSION}-py3
COPY constraints.txt /opt/ccp/constraints.txt
RUN pip install --no-cache-dir -c /opt/ccp/constraints.txt ludwig pandas
ENV LC_ALL=C.UTF-8
