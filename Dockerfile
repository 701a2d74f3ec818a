# docker-inspector as a container image: read the host's Docker data root, mounted read-only.
#
#   docker build -t docker-inspector .
#   docker run --rm -v /var/lib/docker:/var/lib/docker:ro docker-inspector report
#   docker run --rm -it -v /var/lib/docker:/var/lib/docker:ro docker-inspector tui
#
# BASE: any image with python3 >= 3.11 and its venv module (python3-venv on Debian).
# PIP_ARGS: extra pip options, e.g. an offline wheelhouse in the build context:
#   --build-arg PIP_ARGS="--no-index --find-links /src/wheels"
# (scripts/container_image.py builds it that way, with --network none, on a private dockerd.)
ARG BASE=python:3.12-slim

FROM ${BASE} AS build
ARG PIP_ARGS=""
COPY . /src
# pip lives in a venv of its own (/tmp/pip, left in this stage) and installs into the tool's
# venv, which has no pip or setuptools: 25 MB less, and nothing in the image can install.
RUN python3 -m venv /tmp/pip \
 && python3 -m venv --without-pip /opt/docker-inspector \
 && /tmp/pip/bin/pip --python /opt/docker-inspector/bin/python install --no-cache-dir \
    --disable-pip-version-check --no-warn-script-location ${PIP_ARGS} /src \
 && /opt/docker-inspector/bin/docker-inspector --version

FROM ${BASE}
COPY --from=build /opt/docker-inspector /opt/docker-inspector
ENV PATH=/opt/docker-inspector/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    LANG=C.UTF-8
# The size cache of immutable layers: mount a volume here to keep it between runs.
ENV XDG_CACHE_HOME=/cache
ENTRYPOINT ["docker-inspector"]
CMD ["report"]
