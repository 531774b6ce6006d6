export type { AppRouter } from './routers/index.ts';
export { appRouter } from './routers/index.ts';
export { startServer, type RunningServer } from './server.ts';
export { loadConfig, type ServerConfig } from './config.ts';
export { buildApp } from './app.ts';
export { serve } from './main.ts';
