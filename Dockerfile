# One image for the controller (the default command) and the node agent (args: agent ...).
#   docker build -t bmlb:0.1.0 .                 (or: buildah bud -t bmlb:0.1.0 .)
# BASE is any Debian-like image with Python >= 3.11 as python3; CI builds one from Debian
# packages (tests/image/build-and-run.sh) because no container registry is reachable there.
ARG BASE=docker.io/library/python:3.11-slim

# --- build: bmlb and its dependencies, installed (not editable) into a virtual environment ---
FROM ${BASE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
# Only what the wheel is made of (controller/data links to crds/ and templates/).
COPY pyproject.toml README.md ./
COPY crds crds
COPY templates templates
COPY controller controller
COPY firewall firewall
COPY ipvs ipvs
RUN --mount=type=cache,target=/root/.cache/pip \
    python3 -m venv /opt/bmlb \
    && /opt/bmlb/bin/pip install /src \
    && /opt/bmlb/bin/python -m compileall -q /opt/bmlb/lib \
    && /opt/bmlb/bin/bmlb --help >/dev/null \
    && cd / && /opt/bmlb/bin/python -c "from controller.core import resources; assert resources.crd_texts()"

# --- runtime: the base, kmod for the agent's init step, nftables for the agent's masquerade
# table (NAT mode, ipvs/masquerade.py), the virtual environment, a user ---
FROM ${BASE}
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PATH=/opt/bmlb/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# kmod: modprobe for the agent's kernel-setup init container (loads ip_vs).
RUN if ! command -v modprobe >/dev/null || ! command -v nft >/dev/null; then \
        apt-get update && apt-get install -y --no-install-recommends kmod nftables && rm -rf /var/lib/apt/lists/*; \
    fi \
    && groupadd --system --gid 65532 bmlb \
    && useradd --system --uid 65532 --gid 65532 --no-create-home --shell /usr/sbin/nologin bmlb
COPY --from=build /opt/bmlb /opt/bmlb
# The examples, for `bmlb validate -f /usr/share/bmlb/examples` in the image.
COPY examples /usr/share/bmlb/examples
USER 65532:65532
ENTRYPOINT ["bmlb"]
CMD ["controller"]
