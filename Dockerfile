# Build: compile TypeScript and better-sqlite3's native addon, then drop dev dependencies.
FROM node:20-bookworm-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
COPY patches patches
# --ignore-scripts skips our postinstall too: apply the dependency patches (patches/) by hand.
RUN npm ci --ignore-scripts && npm rebuild better-sqlite3 && npx patch-package
COPY . .
RUN npm run build && npm prune --omit=dev

# Run: no compiler, no dev dependencies, a non-root user, data on a volume it owns.
FROM node:20-bookworm-slim
ENV NODE_ENV=production
# Every command keeps its store in /data (a config's dataDir is overridden): /app is root's.
ENV TUF_MIRROR_DATA_DIR=/data
WORKDIR /app
COPY --from=build /app/package.json /app/LICENSE ./
COPY --from=build /app/node_modules node_modules
COPY --from=build /app/dist dist
COPY --from=build /app/config/anchors config/anchors
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 8080
ENTRYPOINT ["node", "/app/dist/cli/main.js"]
CMD ["serve"]
