FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --omit=dev && npm cache clean --force
COPY tsconfig.json knexfile.ts ./
COPY src ./src
USER node
EXPOSE 3000
# SIGTERM reaches node directly (no npm wrapper), so shutdown drains in-flight jobs.
CMD ["node", "--import", "tsx", "src/main.ts"]
