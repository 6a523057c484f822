# camnet — one image recipe for every service; the pip extras choose what goes in.
#   central services (collector, api, jobs, alerts):  docker build -t camnet:latest .
#   edge agent:      docker build --build-arg EXTRAS=agent -t camnet-edge:latest .
#   simulator:       docker build --build-arg EXTRAS=simulator -t camnet-sim:latest .
# The compose files build these for you (docker compose build).
FROM python:3.11-slim-bookworm

ARG EXTRAS=collector,api,alerts
ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# A system user of its own: no service runs as root inside the container.
# DejaVu: the Vietnamese glyphs of the evaluation PDF (camnet evaluate --format pdf).
RUN apt-get update && apt-get install -y --no-install-recommends fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*

# Its state folders exist in the image, owned by it, so that a named volume mounted there
# starts with that owner (Docker copies the image's folder into a new volume).
RUN useradd --system --uid 10001 --create-home --home-dir /var/lib/camnet camnet \
    && install -d -o camnet -g camnet /var/lib/camnet/agent /var/lib/camnet/clips

WORKDIR /src
COPY pyproject.toml README.md camnet_cli.py camnet_demo.py ./
COPY agent ./agent
COPY collector ./collector
COPY api ./api
COPY alerts ./alerts
RUN pip install ".[${EXTRAS}]" && camnet --help > /dev/null

USER camnet
WORKDIR /var/lib/camnet
# Every service is `camnet <command>`: the compose files give the command.
CMD ["camnet", "--help"]
