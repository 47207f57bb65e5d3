# syntax=docker/dockerfile:1
#
# All executables of the project in one image: controller-service, agent-service,
# supervisor-service, cluster-node, zeek-mgmt, and zeek-mgmt-host (agent + supervisor of one
# host in one container), on top of the official Zeek image, so the supervisor runs real Zeek
# for every node.
#
#   docker build -t zeek-mgmt:latest .
#
# Zeek: the current feature release by default, zeek/zeek:latest (Zeek 9.x: clusters on ZeroMQ,
# CURVE-encrypted between hosts, README "Real Zeek"). For the long-term-support release instead
# (Zeek 8.0 LTS: Broker by default, no CURVE), or to pin a series or a release:
#
#   docker build --build-arg ZEEK_IMAGE=zeek/zeek:lts -t zeek-mgmt:lts .              # the LTS release
#   docker build --build-arg ZEEK_IMAGE=zeek/zeek:8.0 -t zeek-mgmt:zeek-8.0 .         # a series
#   docker build --build-arg ZEEK_IMAGE=zeek/zeek:8.0.10 -t zeek-mgmt:zeek-8.0.10 .   # one release
#
# Every host of one Zeek cluster must run the same Zeek release (the controller refuses a mix), so
# give every agent the same image. The image's Zeek is in its label
# org.opencontainers.image.base.name, and `docker run --rm IMAGE zeek --version` prints it.
#
# The runtime stage is zeek/zeek (Debian 13 "trixie", Zeek under /usr/local/zeek, no entrypoint,
# root), with trixie's librdkafka 2.8: any ZEEK_IMAGE must be Debian 13 or later (the build stops
# when a binary cannot start on it). The binaries are built on Ubuntu 24.04: its glibc (2.39) is
# not newer than trixie's (2.41), its librdkafka-dev is 2.3 (>= 2.2 speaks current Kafka; Debian
# 12's 2.0.2 does not), and with the Swift runtime linked statically they need only C libraries
# trixie has (libc, libstdc++, librdkafka.so.1, libcurl.so.4).

ARG SWIFT_VERSION=6.1
ARG UBUNTU_VERSION=noble
# The official Zeek image: zeek/zeek:latest (the current release), zeek/zeek:lts, zeek/zeek:X.Y.
ARG ZEEK_IMAGE=zeek/zeek:latest

FROM swift:${SWIFT_VERSION}-${UBUNTU_VERSION} AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      pkg-config librdkafka-dev libcurl4-openssl-dev libssl-dev libsasl2-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Dependencies first, so source changes do not refetch them.
COPY Package.swift ./
RUN swift package resolve
COPY Shared Shared
COPY Services Services
COPY Benchmarks Benchmarks
COPY Tests Tests
RUN swift build -c release --static-swift-stdlib \
      --product controller-service --product agent-service --product supervisor-service \
      --product cluster-node --product zeek-mgmt \
 && mkdir -p /out \
 && for tool in controller-service agent-service supervisor-service cluster-node zeek-mgmt; do \
      cp ".build/release/$tool" /out/; \
    done

FROM ${ZEEK_IMAGE} AS runtime
ARG ZEEK_IMAGE
LABEL org.opencontainers.image.base.name="${ZEEK_IMAGE}"
# Debian 13 names its libcurl package libcurl4t64 (the 64-bit time_t transition).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      librdkafka1 libcurl4t64 libsasl2-modules ca-certificates tini \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/zeek-mgmt --create-home zeek-mgmt \
 && install -d -o zeek-mgmt -g zeek-mgmt /var/lib/zeek-mgmt/nodes \
 && (id zeek >/dev/null 2>&1 || useradd --system --uid 10002 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin zeek)
COPY --from=build /out/ /usr/local/bin/
COPY compose/zeek-mgmt-host /usr/local/bin/zeek-mgmt-host
COPY examples/cluster.ini /etc/zeek-mgmt/cluster.ini
# Stops the build on a base image the binaries cannot run on (its glibc, librdkafka or libcurl)
# or whose own zeek user is the services' (uid 10001), and prints the Zeek the image carries.
RUN for tool in controller-service agent-service supervisor-service cluster-node zeek-mgmt; do \
      "/usr/local/bin/$tool" --help >/dev/null; \
    done \
 && [ "$(id -u zeek)" != "$(id -u zeek-mgmt)" ] && [ "$(id -u zeek)" != 0 ] \
 && /usr/local/zeek/bin/zeek --version
# supervisor-service runs the image's Zeek for every node (ZEEK_MGMT_ZEEK: an executable, an
# install prefix, or "auto"); set ZEEK_MGMT_ZEEK to "" to run the stand-in cluster-node instead.
# Zeek's own tools (zeek, zeek-cut, zkg, ...) come first on PATH.
ENV PATH=/usr/local/zeek/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    ZEEK_MGMT_ZEEK=/usr/local/zeek
# /var/lib/zeek-mgmt/nodes holds the node working directories (supervisor-service --base-dir):
# each node writes its logs to <dir>/<node>/, rotated files under <dir>/<node>/logs/. Mount a
# volume there (compose's zeek-logs, the chart's hostPath or claim) to keep them across container
# restarts; no VOLUME here, so the controller and the client get no anonymous volumes.
# Services run unprivileged, as zeek-mgmt (uid 10001). Zeek nodes run as zeek (uid 10002), a user
# no service is: a node exploited through the traffic it parses cannot read the host's key. The
# host container (agent + supervisor) runs as root, with only the capabilities its supervisor
# uses to run each node as zeek (CHOWN, SETUID, SETGID, KILL) and those capturing
# workers get (NET_RAW, NET_ADMIN; host networking to see the host's interfaces): see compose/
# and helm/.
USER zeek-mgmt
WORKDIR /var/lib/zeek-mgmt
# zeek-client's gateway, when controller-service serves it on every address (--websocket 0.0.0.0:2149,
# which needs TLS with client certificates: README, "Security").
EXPOSE 2149
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["zeek-mgmt", "--help"]
