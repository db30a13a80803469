// Workers as Electron utility processes (Chromium's process model: named in the task manager, ended with
// the app). The worker side finds process.parentPort (workers/channel.ts); fork stays the default elsewhere.
import { utilityProcess } from 'electron';
import { exitReporter, type WorkerAdapter } from '../workers/adapter.ts';
import type { FromWorker } from '../workers/protocol.ts';

/** How long an exit waits for the rest of stderr (the reason of a crash) before it is reported. */
const STDERR_GRACE_MS = 500;

export function utilityWorkerAdapter(entry: string): WorkerAdapter {
  return {
    spawn() {
      const child = utilityProcess.fork(entry, [], { stdio: ['ignore', 'inherit', 'pipe'], serviceName: 'Latent Diffusion Studio worker' });
      const exit = exitReporter(child.stderr);
      let pid = child.pid;
      child.once('spawn', () => (pid = child.pid));
      child.on('error', (type, location) => exit.note(`${type} at ${location}`));
      let alive = true;
      const stderr = child.stderr;
      child.once('exit', (code) => {
        alive = false;
        const done = () => exit.exited(code, null);
        if (!stderr) return done();
        stderr.once('end', done);
        setTimeout(done, STDERR_GRACE_MS);
      });
      return {
        get pid() {
          return pid;
        },
        send(msg) {
          if (alive) child.postMessage(msg);
        },
        onMessage: (listener) => child.on('message', (m) => listener(m as FromWorker)),
        onExit: exit.onExit,
        // kill() sends SIGTERM; a worker stuck in native code must end at once, as with fork.
        kill() {
          if (!alive) return;
          if (pid === undefined) child.kill();
          else process.kill(pid, 'SIGKILL');
        },
      };
    },
  };
}
