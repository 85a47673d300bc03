# Image of the processor: one static binary built with Go's FIPS 140-3
# cryptographic module, on a distroless base that has no shell and runs as a
# non-root user. It suits a read-only root filesystem: the process writes no
# files, and the TLS material arrives read-only in /run/processor-tls from
# the tls-init container (see deploy/tls-init and the task definition in
# deploy/cloudformation/processor.yaml).
#
#   docker build --build-arg VERSION=$(git describe --tags --always) -t processor .
#
# `make image-check` builds the same binary with the same flags without
# Docker and checks its FIPS settings; `make test` runs it.
#
# NOTE: pin both base images by digest (name:tag@sha256:...) in the registry
# that builds release images. The tags below were not pulled when this file
# was written, so no digest is given here.

FROM golang:1.26.8-bookworm AS build

# GOTOOLCHAIN=local builds with the image's Go and never downloads another.
# GOFIPS140=v1.0.0 compiles in the FIPS 140-3 module that Go 1.26 names as
# certified, and makes GODEBUG=fips140=on the binary's default.
ENV CGO_ENABLED=0 \
    GOFIPS140=v1.0.0 \
    GOTOOLCHAIN=local

WORKDIR /src

# Modules first, so a source change reuses the downloaded modules' layer.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download

COPY . .

ARG VERSION=dev
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /processor ./cmd/processor \
    && go version -m /processor | grep -E 'GOFIPS140=v1\.0\.0' \
    && go version -m /processor | grep -E 'DefaultGODEBUG=.*fips140=on'

# The "nonroot" variant runs as uid and gid 65532, the user of the task
# definition. It contains CA certificates (for the gateway and KMS
# endpoints), time zone data and /etc/passwd, but no shell.
FROM gcr.io/distroless/static-debian12:nonroot

# Also the build's default; set here so the mode is visible in the image
# configuration. fips140=only would stop the ESDK from decrypting Connect
# messages, because it forbids AES-GCM with caller-supplied nonces.
ENV GODEBUG=fips140=on

COPY --from=build /processor /processor

USER 65532:65532
# 8443: the mutual-TLS API. 9090: the plain-HTTP ops listener (/metrics,
# /healthz, /readyz).
EXPOSE 8443 9090

# No HEALTHCHECK: ECS runs `/processor healthcheck` from the task definition.
ENTRYPOINT ["/processor"]
