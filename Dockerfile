# One image for the controller (the default command) and the node agent (args: agent ...).
#   docker build -t bmlb:0.1.0 .
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# kmod: modprobe for the agent's kernel-setup init container (loads ip_vs).
RUN apt-get update \
    && apt-get install -y --no-install-recommends kmod \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY . /app

# Editable install: bmlb finds crds/ and templates/ next to its packages (controller/naming.py
# ROOT), and a regular install would leave those top-level folders out. Byte-compiled here
# because the containers run with a read-only root filesystem.
RUN pip install --no-cache-dir -e /app \
    && python -m compileall -q /app/controller /app/firewall /app/ipvs \
    && bmlb --help >/dev/null \
    && test -f /app/crds/vippool.yaml && test -d /app/templates/deploy

RUN groupadd --system --gid 65532 bmlb \
    && useradd --system --uid 65532 --gid 65532 --no-create-home --shell /usr/sbin/nologin bmlb
USER 65532:65532

ENTRYPOINT ["bmlb"]
CMD ["controller"]
