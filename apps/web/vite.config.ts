import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

// `pnpm --filter @aitbc/web dev` serves the dashboard with hot reload and
// passes the API through to a server on AITBC_URL (default the README's
// 127.0.0.1:8000). `build` writes dist/, which the server serves at /.
const api = process.env.AITBC_URL ?? 'http://127.0.0.1:8000';

export default defineConfig({
  plugins: [react()],
  build: { outDir: 'dist', emptyOutDir: true, target: 'es2022', sourcemap: false, chunkSizeWarningLimit: 400 },
  server: { proxy: { '/trpc': { target: api, changeOrigin: false } } },
});
