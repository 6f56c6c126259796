import { defineConfig } from 'vite';

// The benchmark app: many lazily imported pages, the big libraries in their own chunks, linked sourcemaps.
export default defineConfig({
  logLevel: 'warn',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: true,
    chunkSizeWarningLimit: 100000,
    reportCompressedSize: false,
    rollupOptions: {
      output: {
        manualChunks(id) {
          if (/[\\/]node_modules[\\/](react|react-dom|scheduler)[\\/]/.test(id)) return 'react';
          if (/[\\/]node_modules[\\/]lodash-es[\\/]/.test(id)) return 'lodash';
          if (/[\\/]node_modules[\\/]three[\\/]/.test(id)) return 'three';
          return undefined;
        },
      },
    },
  },
});
