# syntax=docker/dockerfile:1

# Build stage: the compiler toolchain is only here, for better-sqlite3 when no prebuilt
# binary matches.
FROM node:20-bookworm-slim AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 make g++ \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
# Manifests first, so that a source change does not re-run npm ci.
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY projections ./projections
COPY scripts ./scripts
RUN npm run build && npm prune --omit=dev

# Runtime stage: same base image, so the native module built above loads here.
FROM node:20-bookworm-slim
ENV NODE_ENV=production \
    PORT=4000 \
    CRM_DATA_DIR=/app/data
WORKDIR /app
# Code stays owned by root: the app user can run it but not rewrite it.
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# Static pages served as they are (neither tsc nor the bundle copies assets): the analyst dashboard.
COPY --from=build /app/src/dashboard/public ./src/dashboard/public
# The data directory must exist and belong to the app user before VOLUME, or a fresh named
# volume would be created owned by root.
RUN mkdir -p /app/data && chown node:node /app/data
VOLUME /app/data
USER node
EXPOSE 4000
# The slim image has no curl; node 20 has fetch.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||4000)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
CMD ["node", "dist/main.js"]
