// App-wide state shared by the views: current view, system info, job activity, notices. Views hand each
// other work through explicit calls (commands.ts), wrapped here with the view switch.
import type { RequestOutput } from '../../../electron/api/index.ts';
import type { Job } from '../../../electron/api/jobs.ts';
import { run, type PictureSource } from './commands.ts';
import { errorMessage } from './errors.ts';

export type View = 'generate' | 'canvas' | 'history' | 'train' | 'models';
export type SystemInfo = RequestOutput<'system.info'>;

export interface Notice {
  id: number;
  kind: 'error' | 'info' | 'success';
  message: string;
}

export type CanvasSource = PictureSource;

export const app = $state({
  view: 'generate' as View,
  info: null as SystemInfo | null,
  infoError: null as string | null,
  jobs: {} as Record<string, Job>,
  statusMessage: null as string | null,
  /** The memory estimate of the last job before it started (system.status). */
  memory: null as string | null,
  /** False while web mode's socket is down (it reconnects on its own). */
  connected: true,
  notices: [] as Notice[],
});

let noticeId = 1;

export function notify(message: string, kind: Notice['kind'] = 'error'): void {
  const id = noticeId++;
  app.notices.push({ id, kind, message });
  setTimeout(() => dismiss(id), kind === 'error' ? 9000 : 4000);
}

export function dismiss(id: number): void {
  const i = app.notices.findIndex((n) => n.id === id);
  if (i >= 0) app.notices.splice(i, 1);
}

/** Shows a failed request to the user instead of failing silently; returns undefined on failure. */
export async function attempt<T>(what: string, run: () => Promise<T>): Promise<T | undefined> {
  try {
    return await run();
  } catch (err) {
    notify(`${what}: ${errorMessage(err)}`);
    return undefined;
  }
}

export function activeJobs(): Job[] {
  return Object.values(app.jobs).filter((j) => j.status === 'running' || j.status === 'queued');
}

export function openInCanvas(source: PictureSource): void {
  if (run('canvas.open', source)) app.view = 'canvas';
}

/** "Reuse": Generate's form takes these parameters. */
export function reuseInGenerate(spec: RequestOutput<'history.reuse'>): void {
  if (run('generate.reuse', spec)) app.view = 'generate';
}

/** "Send to img2img": Generate switches to img2img with this init picture. */
export function sendToImg2img(source: PictureSource): void {
  if (run('generate.img2img', source)) app.view = 'generate';
}
