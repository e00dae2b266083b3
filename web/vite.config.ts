import { defineConfig } from 'vite';

// The bundle is committed (web/dist) and embedded into the server binary; CI rebuilds it and
// fails when it differs, so the output must be deterministic: fixed file names from content
// hashes, no build timestamps, no source maps with absolute paths.
export default defineConfig({
  esbuild: { jsx: 'automatic', jsxImportSource: 'preact', legalComments: 'none' },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2020',
    sourcemap: false,
    reportCompressedSize: true,
    modulePreload: { polyfill: false },
  },
  server: {
    // `npm run dev` against a server on :8080 (cargo run --release).
    proxy: {
      '/api': 'http://127.0.0.1:8080',
      '/ws': { target: 'ws://127.0.0.1:8080', ws: true },
    },
  },
  test: {
    include: ['src/**/*.test.ts'],
    environment: 'node',
  },
} as any);
