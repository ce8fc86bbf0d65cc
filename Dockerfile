# callintel: API (`callintel serve`) and workers (`callintel worker`) from one image.
# Models ship inside PyPI packages installed at build time; nothing is downloaded at run time.
ARG PYTHON_IMAGE=python:3.11-slim

# ---- build: a virtual environment with CPU torch, the package and its model packages ----------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH
RUN python -m venv /opt/venv
# CPU torch first, from the PyTorch index: the package pins torch==2.13.0, which is then already
# satisfied, so pip never pulls the CUDA build from PyPI. Separate layers on purpose: torch (the
# largest) stays cached when only the package changes.
# hadolint ignore=DL3059
RUN pip install --no-cache-dir torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-cache-dir .
# Join the two-part Whisper base model once, at build time, so running containers never write it.
# hadolint ignore=DL3059
RUN HF_HUB_OFFLINE=1 python -c "from pathlib import Path; from callintel.ml.registry import whisper_base_dir; whisper_base_dir(Path('/opt/callintel/models'))"

# ---- runtime: the environment only, no compilers, non-root ------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    CALLINTEL_DATA_DIR=/var/lib/callintel \
    CALLINTEL_MODELS__CACHE_DIR=/opt/callintel/models
RUN groupadd --system --gid 10001 callintel \
    && useradd --system --uid 10001 --gid callintel --home-dir /var/lib/callintel --create-home \
       --shell /usr/sbin/nologin callintel
COPY --from=build /opt/venv /opt/venv
COPY --from=build /opt/callintel/models /opt/callintel/models
WORKDIR /var/lib/callintel
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
CMD ["callintel", "serve", "--host", "0.0.0.0", "--port", "8000"]
