# A static `etl` binary in a distroless image, running `etl serve` by default.
#
#   docker build -t etl --build-arg VERSION=$(git describe --always) .
#   docker run -p 8080:8080 -v $PWD/deploy:/etc/etl:ro -v etl-data:/data \
#     -e ASI_WEBHOOK_SECRET -e AZUMIO_CLIENT_ID -e AZUMIO_CLIENT_SECRET etl
#
# See docs/serve.md. The binary is built without cgo, so it needs no libc; time
# zone data for schedules is compiled in (time/tzdata).
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/etl ./cmd/etl

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/etl /usr/local/bin/etl
# State stores, dead letters and local sinks write under /data (mount a volume).
WORKDIR /data
USER nonroot:nonroot
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/etl"]
CMD ["serve", "--config", "/etc/etl/serve.yaml", "--listen", "0.0.0.0:8080", "--log-format", "json"]
