# One image for the scheduler, the CPU and GPU workers and the client (docker-compose.yml).
# The pinned torch is a CUDA build: the same image runs inference on a GPU worker and on CPUs.
FROM python:3.11-slim
ENV PIP_NO_CACHE_DIR=1 PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 GDAL_CACHEMAX=256
WORKDIR /opt/geoseg
COPY pyproject.toml README.md ./
COPY geoseg ./geoseg
RUN pip install '.[torch]' && geoseg --version
WORKDIR /workflows
