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
        reader: 'src/pages/reader.js',
        adjudicate: 'src/pages/adjudicate.js',
        series: 'src/pages/series.js',
        patient: 'src/pages/patient.js',
        jobs: 'src/pages/jobs.js',
        worklist: 'src/pages/worklist.js',
        style: 'src/style.css',
      },
    },
  },
  worker: { format: 'es' },
});
