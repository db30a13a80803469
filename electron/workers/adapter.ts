// One small seam over how worker processes are started: child_process.fork here (the default, and the
// only way outside Electron), utilityProcess in the Electron shell (electron/shell/utility-worker.ts).
import { fork, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { FromWorker, ToWorker } from './protocol.ts';

export interface WorkerExit {
  code: number | null;
  signal: string | null;
  /** The last lines the process wrote to stderr: the reason of a crash, when it gave one. */
  stderrTail: string;
}

export interface WorkerProcess {
  readonly pid: number | undefined;
  send(msg: ToWorker): void;
  onMessage(listener: (msg: FromWorker) => void): void;
  onExit(listener: (exit: WorkerExit) => void): void;
  /** Ends the process at once (SIGKILL where that exists). */
  kill(): void;
}

export interface WorkerAdapter {
  spawn(): WorkerProcess;
}

export const DEFAULT_WORKER_ENTRY = fileURLToPath(new URL('./main.ts', import.meta.url));

export interface ForkOptions {
  /** The worker's entry module; a .ts entry runs through tsx. */
  entry?: string;
  execArgv?: string[];
  env?: NodeJS.ProcessEnv;
}

const STDERR_TAIL = 4000;

export function forkWorkerAdapter(opts: ForkOptions = {}): WorkerAdapter {
  const entry = opts.entry ?? DEFAULT_WORKER_ENTRY;
  const execArgv = opts.execArgv ?? (entry.endsWith('.ts') ? ['--import', 'tsx'] : []);
  return {
    spawn(): WorkerProcess {
      const child = fork(entry, [], {
        execArgv,
        env: opts.env ?? process.env,
        serialization: 'advanced',
        stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
      });
      const exit = exitReporter(child.stderr);
      // 'close' (not 'exit') so that stderr has been read to its end.
      child.on('close', (code, signal) => exit.exited(code, signal));
      child.on('error', (err) => exit.note(err.message));
      return {
        get pid() {
          return child.pid;
        },
        send(msg) {
          if (child.connected) child.send(msg);
        },
        onMessage(listener) {
          child.on('message', (m) => listener(m as FromWorker));
        },
        onExit: exit.onExit,
        kill() {
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
        },
      };
    },
  };
}

/**
 * A worker's exit for WorkerProcess.onExit, whichever way it was started: keeps the end of its stderr
 * and hands the exit to listeners registered before or after it.
 */
export function exitReporter(stderr: NodeJS.ReadableStream | null | undefined) {
  let tail = '';
  stderr?.on('data', (chunk: Buffer) => {
    tail = (tail + chunk.toString('utf8')).slice(-STDERR_TAIL);
  });
  const listeners: ((e: WorkerExit) => void)[] = [];
  let exited: WorkerExit | null = null;
  return {
    /** Adds a line of our own to the tail (a failure to start). */
    note(line: string): void {
      tail += `\n${line}`;
    },
    exited(code: number | null, signal: string | null): void {
      if (exited) return;
      exited = { code, signal, stderrTail: tail };
      for (const l of listeners.splice(0)) l(exited);
    },
    onExit(listener: (exit: WorkerExit) => void): void {
      if (exited) listener(exited);
      else listeners.push(listener);
    },
  };
}

/** What the studio knows about a killed worker's job, to say whether memory ran out. */
export interface ExitEvidence {
  /** The job's memory estimate and the machine's total memory, in bytes. */
  estimateBytes?: number;
  totalBytes?: number;
  /** What the kernel log says of the process: killed for memory, something else, or unknown (unreadable). */
  kernel?: 'oom' | 'no-oom' | 'unknown';
}

/** An estimate this close to the machine's memory makes an out-of-memory kill the likely cause. */
const NEAR_LIMIT = 0.6;

/** Why a worker died, in words for the user; "out of memory" only when the evidence says so. */
export function describeExit(exit: WorkerExit, evidence: ExitEvidence = {}): string {
  const lastLine = exit.stderrTail.trim().split('\n').filter(Boolean).at(-1) ?? '';
  if (/heap out of memory|Allocation failed|ENOMEM|std::bad_alloc/i.test(exit.stderrTail)) {
    return `The worker ran out of memory and stopped${lastLine ? ` (${lastLine.trim()})` : ''}. Try a smaller image size or batch.`;
  }
  if (exit.signal === 'SIGKILL') {
    const gib = (n: number) => `${(n / 2 ** 30).toFixed(1)} GiB`;
    if (evidence.kernel === 'oom') {
      return 'The worker process was killed by the system for running out of memory (the kernel log says so). Try a smaller image size or batch.';
    }
    const { estimateBytes: est, totalBytes: total } = evidence;
    if (evidence.kernel !== 'no-oom' && est !== undefined && total !== undefined && est >= NEAR_LIMIT * total) {
      return `The worker process was killed (SIGKILL), most likely for running out of memory: the job needed about ${gib(est)} of this computer's ${gib(total)}. Try a smaller image size or batch.`;
    }
    return 'The worker process was killed (signal SIGKILL).';
  }
  if (exit.signal) return `The worker process crashed (${exit.signal})${lastLine ? `: ${lastLine.trim()}` : ''}.`;
  return `The worker process exited with code ${exit.code}${lastLine ? `: ${lastLine.trim()}` : ''}.`;
}

/**
 * Whether the kernel log records an out-of-memory kill of `pid` ('unknown' when the log cannot be read,
 * as for users without the right to read it, or on systems without dmesg).
 */
export function kernelOomVerdict(pid: number | undefined): 'oom' | 'no-oom' | 'unknown' {
  if (pid === undefined || process.platform !== 'linux') return 'unknown';
  const r = spawnSync('dmesg', [], { encoding: 'utf8', timeout: 2000, maxBuffer: 16 * 1024 * 1024 });
  if (r.status !== 0 || !r.stdout) return 'unknown';
  const about = new RegExp(`(?:pid=|process )${pid}\\b`);
  const killed = r.stdout.split('\n').some((line) => /out of memory|oom-kill|oom_reaper/i.test(line) && about.test(line));
  return killed ? 'oom' : 'no-oom';
}
