/**
 * SQLite WAL checkpoints in a thread of their own. A checkpoint copies the
 * WAL's pages into the database file and fsyncs it; run by SQLite's
 * auto-checkpoint, it happens inside whichever COMMIT crosses 1,000 pages,
 * on the event loop, where it was ~60% of COMMIT's cost under load (and a
 * stall for every request waiting behind it). Here a second connection in a
 * worker thread runs a PASSIVE checkpoint every `intervalMs`: it copies what
 * no reader still needs, never blocks the writer, and its fsync waits in that
 * thread. The server's own connection keeps an auto-checkpoint at 10,000
 * pages as a backstop, should this thread stop.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

const WORKER = `
const { workerData, parentPort } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.file);
db.pragma('busy_timeout = 100');
const checkpoint = () => {
  try { db.pragma('wal_checkpoint(PASSIVE)'); } catch (error) { parentPort.postMessage(String(error && error.message)); }
};
const timer = setInterval(checkpoint, workerData.intervalMs);
parentPort.on('message', () => { clearInterval(timer); checkpoint(); db.close(); parentPort.close(); });
`;

export const BACKSTOP_PAGES = 10_000;

export interface Checkpointer {
  close(): Promise<void>;
}

export function startCheckpointer(file: string, intervalMs: number, onError: (message: string) => void): Checkpointer {
  const driver = createRequire(import.meta.url).resolve('better-sqlite3');
  const worker = new Worker(WORKER, { eval: true, workerData: { file, driver, intervalMs } });
  worker.on('message', (message: string) => onError(`checkpoint: ${message}`));
  worker.on('error', (error) => onError(`checkpoint thread: ${error.message}`));
  worker.unref();
  return {
    close: () =>
      new Promise<void>((resolve) => {
        worker.once('exit', () => resolve());
        worker.postMessage('close');
        setTimeout(() => void worker.terminate().then(() => resolve()), 2000).unref();
      }),
  };
}
