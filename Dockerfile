# syntax=docker/dockerfile:1
# Multi-stage build on Node 24 slim, for amd64 and arm64 (docker buildx --platform ...).
# --build-arg WITH_CHDB=false builds an image for the ClickHouse server sink only
# (no ~550 MB embedded engine). The build steps are scripts/build-release.sh, which CI
# also runs outside Docker.
ARG NODE_VERSION=24
FROM node:${NODE_VERSION}-bookworm-slim AS build
ARG WITH_CHDB=true
WORKDIR /app
COPY package.json package-lock.json tsconfig.json ./
COPY scripts/build-release.sh ./scripts/
COPY src ./src
RUN WITH_CHDB=${WITH_CHDB} sh scripts/build-release.sh

FROM node:${NODE_VERSION}-bookworm-slim
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY config ./config
COPY console ./console
RUN mkdir -p /var/lib/fieldgate /etc/fieldgate && chown node:node /var/lib/fieldgate
USER node
VOLUME ["/var/lib/fieldgate"]
EXPOSE 1883 9464
HEALTHCHECK --interval=15s --timeout=3s CMD ["node", "-e", "fetch('http://127.0.0.1:9464/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# Node 22+ lets the young generation grow to twice Node 20's (64 MB): under a QoS 0 flood the
# gateway peaked at 527 MB instead of 413 (docs/architecture.md). 16 MB semi-spaces are Node 20's.
ENTRYPOINT ["node", "--max-semi-space-size=16", "dist/cli/main.js"]
CMD ["run", "-c", "/etc/fieldgate/fieldgate.yaml"]
