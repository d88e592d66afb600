# Builds the same images as `make images` (which needs no Docker: see docs/install.md),
# from the same static binaries and the same /etc/passwd and /etc/group, with no base
# image (FROM scratch):
#   docker build --target controller -t ghcr.io/ironlb/ironlb-controller:dev .
#   docker build --target speaker    -t ghcr.io/ironlb/ironlb-speaker:dev .
# Then point config/default at them (kustomize `images:`) or set the chart's
# controller.image / speaker.image values.
FROM golang:1.26 AS build
ARG VERSION=dev
ARG REVISION=unknown
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath \
	-ldflags "-s -w -buildid= -X github.com/ironlb/ironlb/internal/version.Version=${VERSION} -X github.com/ironlb/ironlb/internal/version.Revision=${REVISION}" \
	-o /out/ ./cmd/controller ./cmd/speaker ./cmd/ironlb-pause
RUN mkdir -p /out/tmp && chmod 1777 /out/tmp

FROM scratch AS base
ARG VERSION=dev
ARG REVISION=unknown
LABEL org.opencontainers.image.source="https://github.com/ironlb/ironlb" \
	org.opencontainers.image.version="${VERSION}" \
	org.opencontainers.image.revision="${REVISION}"
COPY internal/image/rootfs/etc/passwd internal/image/rootfs/etc/group /etc/
COPY --from=build /out/tmp /tmp
ENV PATH=/

FROM base AS controller
LABEL org.opencontainers.image.title="ironlb-controller"
COPY --from=build /out/controller /controller
USER 65532:65532
ENTRYPOINT ["/controller"]

# The speaker needs CAP_NET_RAW for ARP (AF_PACKET) and NDP (raw ICMPv6) on the host
# network; the DaemonSet grants only that and drops the rest. It runs as uid 0 in the
# container because a non-root user gets no effective capabilities without file
# capabilities on the binary.
FROM base AS speaker
LABEL org.opencontainers.image.title="ironlb-speaker"
COPY --from=build /out/speaker /speaker
USER 0:0
ENTRYPOINT ["/speaker"]

FROM base AS pause
LABEL org.opencontainers.image.title="ironlb-pause"
COPY --from=build /out/ironlb-pause /pause
USER 65532:65532
ENTRYPOINT ["/pause"]
