# trailwatch: one image for every stage (ingest, rules, sink, gateway);
# the command picks the stage. Built by docker-compose.yml.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json ./
RUN npm ci --ignore-scripts
COPY src ./src
COPY test ./test
COPY bench ./bench
RUN npx tsc -p . && npm prune --omit=dev

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist/src ./dist/src
COPY package.json ./
COPY rules ./rules
COPY web ./web
USER node
EXPOSE 5514/udp 5514/tcp 19532 8080
ENTRYPOINT ["node", "dist/src/cli.js"]
CMD ["run"]
