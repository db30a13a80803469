// The worker's end of its message channel to the studio. A worker is started either by Node's
// child_process.fork (process.send / process.on('message')) or by Electron's utilityProcess
// (process.parentPort, whose 'message' events carry the message in `data`); this picks whichever it has.
import type { FromWorker, ToWorker, WorkerPort } from './protocol.ts';

/** Electron's process.parentPort, as much of it as a worker uses. */
export interface ParentPortLike {
  postMessage(message: unknown): void;
  on(event: 'message', listener: (e: { data: unknown }) => void): unknown;
}

/** The parts of `process` the channel needs (a stand-in in tests). */
export interface WorkerProcessLike {
  parentPort?: ParentPortLike;
  send?: (message: unknown) => boolean;
  on(event: 'message', listener: (message: unknown) => void): unknown;
  on(event: 'disconnect', listener: () => void): unknown;
  exit(code?: number): void;
}

export function parentChannel(proc: WorkerProcessLike = process as unknown as WorkerProcessLike): WorkerPort {
  const parent = proc.parentPort;
  if (parent) {
    // Electron ends a utility process together with the app, so there is no disconnect to watch.
    return {
      send: (msg: FromWorker) => parent.postMessage(msg),
      onMessage: (l) => parent.on('message', (e) => l(e.data as ToWorker)),
    };
  }
  const send = proc.send?.bind(proc);
  if (!send) {
    throw new Error('this module runs as a worker process: start it with child_process.fork (an IPC channel) or Electron utilityProcess.fork');
  }
  // A worker outlives nothing: when the studio goes (even by kill -9), so does its worker.
  proc.on('disconnect', () => proc.exit(0));
  return {
    send: (msg: FromWorker) => send(msg),
    onMessage: (l) => proc.on('message', (m) => l(m as ToWorker)),
  };
}
