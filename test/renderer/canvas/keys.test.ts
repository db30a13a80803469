import { expect, it } from 'vitest';
import { canvasCommand, type KeyPress } from '../../../renderer/src/canvas/keys.ts';

const key = (k: string, mods: Partial<KeyPress> = {}): KeyPress => ({ key: k, ctrlKey: false, metaKey: false, shiftKey: false, altKey: false, ...mods });

it('maps the canvas keys to commands', () => {
  expect(canvasCommand(key('z', { ctrlKey: true }))).toBe('undo');
  expect(canvasCommand(key('Z', { ctrlKey: true, shiftKey: true }))).toBe('redo');
  expect(canvasCommand(key('y', { metaKey: true }))).toBe('redo');
  expect(canvasCommand(key('0', { ctrlKey: true }))).toBe('fit');
  expect(canvasCommand(key('1', { metaKey: true }))).toBe('actual-size');
  expect(canvasCommand(key(']'))).toBe('brush-bigger');
  expect(canvasCommand(key('['))).toBe('brush-smaller');
  expect(canvasCommand(key('b'))).toBe('brush');
  expect(canvasCommand(key('E'))).toBe('eraser');
  expect(canvasCommand(key('h'))).toBe('pan');
  expect(canvasCommand(key('Escape'))).toBe('cancel-stroke');
  // Alt+B and Ctrl+B belong to the app and the browser, a plain letter elsewhere to nothing.
  expect(canvasCommand(key('b', { altKey: true }))).toBeNull();
  expect(canvasCommand(key('b', { ctrlKey: true }))).toBeNull();
  expect(canvasCommand(key('q'))).toBeNull();
});
