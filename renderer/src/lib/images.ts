import type { StudioClient } from '../../../electron/api/index.ts';
import type { ImageVariant } from '../../../electron/api/gallery.ts';

export async function generationDataUrl(studio: StudioClient, id: string, variant: ImageVariant = 'image'): Promise<string> {
  const img = await studio.invoke('gallery.image', { id, variant });
  return `data:${img.mime};base64,${img.base64}`;
}

export function loadImage(src: string): Promise<HTMLImageElement> {
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => resolve(img);
    img.onerror = () => reject(new Error('This file is not an image the studio can read (use PNG, JPEG or WebP).'));
    img.src = src;
  });
}

export function readFileAsDataUrl(file: File): Promise<string> {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result));
    reader.onerror = () => reject(new Error(`Could not read ${file.name}.`));
    reader.readAsDataURL(file);
  });
}

/** The base64 part of a data: URL (what the contract's image inputs take). */
export function dataUrlBase64(dataUrl: string): string {
  const i = dataUrl.indexOf(',');
  return i >= 0 ? dataUrl.slice(i + 1) : dataUrl;
}

/** Canvas `toBlob` → base64 PNG without the data: prefix. */
export function canvasToBase64Png(canvas: HTMLCanvasElement): string {
  return dataUrlBase64(canvas.toDataURL('image/png'));
}
