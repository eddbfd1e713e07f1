import { defineConfig } from 'vitest/config';
import solid from 'vite-plugin-solid';

// A static build to ui/dist: no inline scripts or styles (the server's CSP has no
// 'unsafe-inline'), relative asset paths so the same files work under `bigreach serve` and in the
// Tauri window. Tests run Solid's browser build in happy-dom.
export default defineConfig(({ mode }) => ({
  plugins: [solid()],
  base: './',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    cssCodeSplit: false,
    target: 'es2022',
    reportCompressedSize: true,
  },
  ...(mode === 'test' ? { resolve: { conditions: ['development', 'browser'] } } : {}),
  test: {
    environment: 'happy-dom',
    include: ['test/**/*.test.{ts,tsx}'],
    setupFiles: ['test/setup.ts'],
    server: { deps: { inline: [/solid-js/, /@solidjs\/testing-library/] } },
  },
}));
