# syntax=docker/dockerfile:1
# Gatehouse as a single self-contained executable on a distroless glibc base.
#   docker build -t gatehouse .
#   docker run -d -p 8080:8080 -v /path/to/your/config.yaml:/app/config.yaml gatehouse
# The config file is $GATEHOUSE_CONFIG, else $AOT_CONFIG_PATH (as auth-o-tron's
# compose example sets it), else /app/config.yaml (the working directory's); so
# neither CMD nor HEALTHCHECK names it. It must be readable by uid 65532.
# State (SQLite) goes to /app/data.

FROM node:20-bookworm-slim AS build
WORKDIR /build
COPY package.json package-lock.json ./
# --ignore-scripts: argon2's install script would compile its addon with node-gyp
# (python3, make, g++); the binary embeds argon2's prebuilt addon instead. Bun's
# own postinstall, which puts the real bun executable in place, is then run alone.
RUN npm ci --ignore-scripts --no-audit --no-fund && (cd node_modules/bun && node install.js)
# .dockerignore admits only what the build reads (src, scripts, migrations, public, ...).
COPY . .
RUN npm run build && mkdir -p /rootfs/app/data

FROM gcr.io/distroless/cc-debian12:nonroot
# cc-debian12 has glibc, libgcc_s and libstdc++ (argon2's addon needs the last two)
# and a world-writable /tmp; `nonroot` is uid/gid 65532.
WORKDIR /app
COPY --from=build /build/dist/gatehouse /app/gatehouse
COPY --from=build --chown=65532:65532 /rootfs/app/data /app/data
# The binary extracts argon2's addon here at start-up: it must be writable and
# allow executables (with --read-only, add --tmpfs /tmp:exec).
ENV TMPDIR=/tmp
# Each argon2 check takes 19 MiB; without this glibc keeps that memory after the checks
# (113-116 MB resident after a burst of password checks against 75-77 MB with it, measured).
ENV MALLOC_MMAP_THRESHOLD_=131072
USER 65532:65532
VOLUME ["/app/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/app/gatehouse", "healthcheck"]
# Split so that `docker run IMAGE hash-password` etc. run other subcommands.
ENTRYPOINT ["/app/gatehouse"]
CMD ["serve"]
