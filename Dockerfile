# syntax=docker/dockerfile:1
# Multi-stage build on Node 24 slim. WITH_CHDB=false builds an image for the
# ClickHouse server sink only (no ~550 MB embedded engine).
ARG NODE_VERSION=24
FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json ./
RUN npm ci --no-audit --no-fund
COPY src ./src
RUN npm run build && npm prune --omit=dev

FROM node:${NODE_VERSION}-bookworm-slim
ARG WITH_CHDB=true
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY config ./config
RUN if [ "$WITH_CHDB" != "true" ]; then rm -rf node_modules/chdb node_modules/@chdb; fi \
 && mkdir -p /var/lib/fieldgate && chown node:node /var/lib/fieldgate
USER node
VOLUME ["/var/lib/fieldgate"]
EXPOSE 1883 9464
HEALTHCHECK --interval=15s --timeout=3s CMD node -e "fetch('http://127.0.0.1:9464/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
ENTRYPOINT ["node", "dist/cli/main.js"]
CMD ["run", "-c", "/etc/fieldgate/fieldgate.yaml"]
