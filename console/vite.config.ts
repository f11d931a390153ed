import react from "@vitejs/plugin-react";
import { defineConfig } from "vitest/config";

// Served by the API under /admin/ (same origin): hashed asset names, cached forever by the server.
export default defineConfig({
  base: "/admin/",
  plugins: [react()],
  build: { outDir: "dist", sourcemap: false, chunkSizeWarningLimit: 1500 },
  server: { proxy: { "/api": "http://127.0.0.1:8000" } },
  test: { include: ["src/**/*.test.ts"], environment: "node" },
});
