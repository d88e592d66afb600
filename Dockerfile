# Builds the controller and speaker images (select with --target):
#   docker build --target controller -t ghcr.io/ironlb/ironlb-controller:dev .
#   docker build --target speaker    -t ghcr.io/ironlb/ironlb-speaker:dev .
# Then point config/controller and config/speaker at them (kustomize `images:`).
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags=-s -o /out/ ./cmd/controller ./cmd/speaker

FROM gcr.io/distroless/static-debian12:nonroot AS controller
COPY --from=build /out/controller /controller
ENTRYPOINT ["/controller"]

# The speaker needs NET_RAW (the DaemonSet grants only that) and runs as root
# inside the container to open raw sockets on the host network.
FROM gcr.io/distroless/static-debian12 AS speaker
COPY --from=build /out/speaker /speaker
ENTRYPOINT ["/speaker"]
