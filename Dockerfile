# gatehouse container image.
#
#   docker build --build-arg VERSION=$(git describe --tags --always) -t gatehouse .
#   docker run --rm -p 4180:4180 gatehouse --help
#
# Multi-arch images:
#   docker buildx build --platform linux/amd64,linux/arm64 -t gatehouse .
# The build stage runs on the builder's own platform and cross-compiles
# (pure Go, CGO off), so no emulation is needed. Needs BuildKit (the default
# builder since Docker 23; buildah/podman work too), which sets BUILDPLATFORM,
# TARGETOS and TARGETARCH.

# --- build ------------------------------------------------------------------
# The Go minor version must match go.mod's go directive (go 1.26.x); the
# golang image sets GOTOOLCHAIN=local, so an older patch release would refuse
# to build rather than download a toolchain. cmd/gatehouse/deploy_test.go
# checks that this tag and go.mod agree.
FROM --platform=$BUILDPLATFORM golang:1.27 AS build
WORKDIR /src

# Dependencies first: this layer is reused as long as go.mod and go.sum do
# not change.
COPY go.mod go.sum ./
RUN go mod download && go mod verify

COPY . .

# VERSION ends up in `gatehouse version`, the startup log line and the
# gatehouse_build_info{version} metric. TARGETOS/TARGETARCH are set by
# BuildKit (empty otherwise, which means the builder's own platform).
ARG VERSION=dev
ARG TARGETOS
ARG TARGETARCH
RUN CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/gatehouse ./cmd/gatehouse

# --- runtime ----------------------------------------------------------------
# distroless/static: no shell, no package manager; CA certificates, tzdata and
# /etc/passwd with the user nonroot (uid/gid 65532) are included.
FROM gcr.io/distroless/static-debian12:nonroot

COPY --from=build /out/gatehouse /gatehouse

# The admin listener (/metrics, /healthz, /readyz, and POST /sessions/revoke,
# which ends a user's sessions) defaults to 127.0.0.1:9180, which nothing
# outside the container can reach: not the kubelet's probes, not Prometheus.
# In the image it listens on all interfaces of the container's own network
# namespace instead. Do NOT publish this port to the outside world (no
# `-p 9180:9180` on a public interface, no LoadBalancer/Ingress for it): in
# Kubernetes it is used only by probes and by Prometheus. --admin-listen (or
# -e GATEHOUSE_ADMIN_LISTEN=...) overrides it; flags win over the environment.
ENV GATEHOUSE_ADMIN_LISTEN=:9180

# 4180: the app listener (--listen). 9180: the admin listener (see above).
EXPOSE 4180 9180

# Numeric uid:gid of distroless' nonroot:nonroot, so that Kubernetes'
# runAsNonRoot can verify the user without a runAsUser in the pod spec.
USER 65532:65532

# No HEALTHCHECK: the image has no shell or HTTP client to run one; use the
# orchestrator's HTTP probes against :9180/healthz and :9180/readyz.
ENTRYPOINT ["/gatehouse"]
