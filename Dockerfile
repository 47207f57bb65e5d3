# syntax=docker/dockerfile:1
#
# All executables of the project in one image: controller-service, agent-service,
# supervisor-service, cluster-node, zeek-mgmt, and zeek-mgmt-host (agent + supervisor of one
# host in one container). Ubuntu 24.04 ships librdkafka 2.3, which speaks current Kafka.
#
#   docker build -t zeek-mgmt:latest .

ARG SWIFT_VERSION=6.1
ARG UBUNTU_VERSION=noble

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

FROM ubuntu:${UBUNTU_VERSION} AS runtime
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      librdkafka1 libcurl4t64 libsasl2-modules ca-certificates tini \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/zeek-mgmt --create-home zeek
COPY --from=build /out/ /usr/local/bin/
COPY compose/zeek-mgmt-host /usr/local/bin/zeek-mgmt-host
COPY examples/cluster.ini /etc/zeek-mgmt/cluster.ini
# Services run unprivileged. The host container (agent + supervisor) runs as root only where its
# nodes capture packets: that needs the NET_RAW and NET_ADMIN capabilities (see compose/ and helm/).
USER zeek
WORKDIR /var/lib/zeek-mgmt
# zeek-client's WebSocket endpoint, when controller-service runs with --websocket 0.0.0.0:2149.
EXPOSE 2149
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["zeek-mgmt", "--help"]
