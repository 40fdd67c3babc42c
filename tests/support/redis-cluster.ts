// The local cluster lives in scripts/lib, so `npm run chaos -- --redis-cluster` can start one too (scripts do not import from tests/).
export * from '../../scripts/lib/redis-cluster.js';
