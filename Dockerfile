# cardbatch in a container: a static binary on distroless (CA certificates
# and a non-root user, nothing else).
#
#   docker build --build-arg VERSION=$(git describe --tags --always) \
#                -t cardbatch .
#   docker run --rm --read-only --tmpfs /tmp -v cardbatch-data:/data -e ACEDATA_TOKEN \
#     cardbatch run --input /data/cards.csv --output /data/enriched.csv
#
# The root filesystem can be read-only: everything the tool writes (checkpoint,
# answer cache, output, its temporary folder beside the output) is under /data,
# the one volume; SQLite may also spill to /tmp (a tmpfs, or an emptyDir).

# Build: cgo (go-sqlite3) linked statically. The golang image carries gcc and
# glibc's static libraries; netgo and osusergo keep glibc's NSS (DNS, users),
# which cannot be linked statically, out of the binary, and
# sqlite_omit_load_extension SQLite's dlopen (no warning, nothing loaded at run time).
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=1 go build -trimpath -buildvcs=false -tags netgo,osusergo,sqlite_omit_load_extension \
        -ldflags "-linkmode external -extldflags -static -s -w -X main.version=${VERSION}" \
        -o /out/cardbatch . \
 && /out/cardbatch version \
 && mkdir -p /out/data

# Run: distroless/static has the CA bundle (/etc/ssl/certs), /etc/passwd with
# the nonroot user (65532) and a /tmp; no shell.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/cardbatch /usr/local/bin/cardbatch
COPY --from=build --chown=65532:65532 /out/data /data
# The answer cache lives on the volume (the default, $XDG_CACHE_HOME, would be
# thrown away with the container).
ENV HOME=/data XDG_CACHE_HOME=/data/cache
WORKDIR /data
VOLUME ["/data"]
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/cardbatch"]
CMD ["--help"]
