// Builds the browser bundle into frontend/static/viewer/, where Django's staticfiles (and WhiteNoise,
// with long-cache headers for the hashed names) serve it; templates find the files via manifest.json.
import { defineConfig } from 'vite';

export default defineConfig({
  base: '/static/viewer/',
  build: {
    outDir: '../static/viewer',
    emptyOutDir: true,
    // Not .vite/manifest.json: collectstatic skips dot folders.
    manifest: 'manifest.json',
    target: 'es2022',
    chunkSizeWarningLimit: 4000,
    rollupOptions: {
      input: {
        reader: 'src/reader/main.js',
        adjudicate: 'src/adjudicate/main.js',
        series: 'src/series/main.js',
        patient: 'src/patient/main.js',
        jobs: 'src/jobs/main.js',
        models: 'src/models/main.js',
        overview: 'src/overview/main.js',
        worklist: 'src/worklist/main.js',
        style: 'src/style.css',
      },
      // Cornerstone and the PNG codec in one chunk of their own, named for what it is.
      output: { codeSplitting: { groups: [{ name: 'vendor', test: /node_modules/ }] } },
    },
  },
  worker: { format: 'es' },
});
