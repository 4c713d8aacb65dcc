# zshard image: server_consumer and client_producer on Debian bookworm with
# libzmq5. Build: docker build -t zshard/zshard . (or docker compose build).
#
# The base images are build arguments so a machine without registry access can
# substitute locally built ones; docker/build-images.sh (make docker-images)
# builds the equivalent image with no registry at all. Consul is not in this
# image: docker-compose.yml runs hashicorp/consul (or the local
# zshard/consul image) as its own service.
ARG GO_IMAGE=golang:1.26-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

FROM ${GO_IMAGE} AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends libzmq3-dev pkg-config \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Modules first: this layer is reused until go.mod/go.sum change.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=1 go build -trimpath -o /out/ ./server_consumer ./client_producer

FROM ${RUNTIME_IMAGE}
# /data: where a volume for --data-dir is mounted; a new named volume takes
# this directory's owner, so the node (not root) can write it.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libzmq5 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin zshard \
 && mkdir /data && chown zshard:zshard /data
COPY --from=build /out/server_consumer /out/client_producer /usr/local/bin/
USER zshard
ENTRYPOINT ["server_consumer"]
CMD ["--help"]
