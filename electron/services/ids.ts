import { randomBytes } from 'node:crypto';

/** Ids that sort by creation time (base-36 milliseconds) and never collide (random tail). */
export function newId(): string {
  return `${Date.now().toString(36).padStart(9, '0')}${randomBytes(5).toString('hex')}`;
}
