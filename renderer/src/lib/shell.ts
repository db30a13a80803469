// Native pickers exist only in the desktop app (shell/preload.ts); web mode types a path instead.
export interface ShellBridge {
  pick(kind: 'folder' | 'file'): Promise<string | null>;
}

declare global {
  interface Window {
    studioShell?: ShellBridge;
  }
}

export function shellBridge(): ShellBridge | null {
  return typeof window !== 'undefined' && window.studioShell ? window.studioShell : null;
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}
