#!/usr/bin/env node
// After `vite build`: writes a gzip twin (`x.js.gz`) of every text asset over 1 KiB, which the
// server sends to browsers that accept gzip. Deterministic (fixed level, no name, mtime 0), so
// the committed bundle can be checked against a fresh build byte for byte.
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync, constants } from 'node:zlib';

const dir = new URL('../dist/assets/', import.meta.url).pathname;
for (const name of readdirSync(dir).sort()) {
  if (!/\.(js|css|svg|json)$/.test(name)) continue;
  const path = join(dir, name);
  if (statSync(path).size < 1024) continue;
  const gz = gzipSync(readFileSync(path), { level: constants.Z_BEST_COMPRESSION });
  // Byte 9 of a gzip header is the OS; pin it so builds on any system match.
  gz[9] = 3;
  writeFileSync(`${path}.gz`, gz);
}
