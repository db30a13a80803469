// Pictures too large for one WebSocket message (web mode's 64 MiB frame limit) travel as HTTP uploads:
// every image source `{ base64 }` in a request above the inline limit is sent to POST /upload first and
// replaced by the `{ uploadId }` it answers, which the contract accepts wherever it takes an image source.

/** Image sources above this many base64 characters go as uploads (well under the frame limit). */
export const INLINE_LIMIT = 16 * 1024 * 1024;

/** Sends a picture's bytes; answers the upload's id. */
export type Uploader = (bytes: Uint8Array) => Promise<string>;

function isLargeImageSource(v: unknown, limit: number): v is { base64: string } {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const keys = Object.keys(v);
  return keys.length === 1 && keys[0] === 'base64' && typeof (v as { base64: unknown }).base64 === 'string' && (v as { base64: string }).base64.length > limit;
}

function decodeBase64(s: string): Uint8Array {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** The request input with its large image sources uploaded (a copy; small inputs come back as they are). */
export async function liftLargeImages<T>(input: T, upload: Uploader, limit = INLINE_LIMIT): Promise<T> {
  const walk = async (v: unknown): Promise<unknown> => {
    if (isLargeImageSource(v, limit)) return { uploadId: await upload(decodeBase64(v.base64)) };
    if (Array.isArray(v)) return Promise.all(v.map(walk));
    if (typeof v === 'object' && v !== null) {
      const entries = await Promise.all(Object.entries(v).map(async ([k, x]) => [k, await walk(x)] as const));
      return Object.fromEntries(entries);
    }
    return v;
  };
  return (await walk(input)) as T;
}

/** An Uploader over POST /upload with the session token. */
export function httpUploader(token: string | null): Uploader {
  return async (bytes) => {
    const res = await fetch(`/upload?token=${encodeURIComponent(token ?? '')}`, { method: 'POST', body: bytes as BodyInit, headers: { 'Content-Type': 'application/octet-stream' } });
    const body = (await res.json().catch(() => ({}))) as { uploadId?: string; error?: string };
    if (!res.ok || !body.uploadId) throw new Error(`The picture could not be sent to the studio: ${body.error ?? `HTTP ${res.status}`}`);
    return body.uploadId;
  };
}
