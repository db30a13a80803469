#!/usr/bin/env python3
"""Pictures carrying generation parameters exactly as other tools save them, for
test/engine/io/metadata/fixtures.test.ts.

`/usr/bin/python3 scripts/reference/image_metadata.py` (Debian's python3-pil and python3-piexif) writes
test/fixtures/metadata/*. Each file is saved the way its tool's code does it, with the same libraries:
  a1111*.png       Pillow PngInfo.add_text('parameters', …) (tEXt; iTXt when not Latin-1; zTXt with zip=True),
                   as modules/images.py save_image_with_geninfo does
  a1111.jpg/.webp  Pillow save, then piexif.insert(piexif.dump({'Exif': {UserComment: UserComment.dump(text,
                   encoding='unicode')}})) as A1111 does for JPEG and WebP
  stealth-*.png    the sd_webui_stealth_pnginfo extension's add_data: signature, 32-bit bit count, payload
                   (gzip when compressed), in the low bit of alpha or of R, G, B, pixels column by column
  comfyui.png      PngInfo 'prompt' and 'workflow' JSON (nodes_images SaveImage)
  invokeai*.png    'invokeai_metadata'; InvokeAI 2.x 'Dream' + 'sd-metadata'
  fooocus.png/.jpg 'parameters' JSON + 'fooocus_scheme'; JPEG: EXIF UserComment/MakerNote/Software via Image.Exif
  novelai.png      Title, Description, Software, Source, Generation time, Comment (JSON)
The pictures are tiny and their pixel size differs from the Size the parameters record (as a cropped image's would).
"""
import gzip
import io
import json
import os

import piexif
import piexif.helper
from PIL import Image
from PIL.PngImagePlugin import PngInfo

OUT = os.path.join(os.path.dirname(__file__), '..', '..', 'test', 'fixtures', 'metadata')

A1111 = (
    'masterpiece, a cat on a windowsill,\n(sunset:1.2), [blurry]\n'
    'Negative prompt: lowres, bad anatomy\n'
    'Steps: 28, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 6.5, Seed: 3141592653, Size: 512x768, '
    'Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, VAE hash: 735e4c3a44, VAE: vae-ft-mse-840000-ema-pruned, '
    'Variation seed: 1234, Variation seed strength: 0.3, Seed resize from: 448x640, Denoising strength: 0.45, '
    'Clip skip: 2, ENSD: 31337, RNG: NV, Hires upscale: 2, Hires steps: 12, Hires upscaler: Latent, '
    'Lora hashes: "add_detail: 7c6bad76eb54, more_art: 0a8b3a1b2c3d", TI hashes: "easynegative: c74b4e810b03", '
    'Emphasis: Original, Version: v1.10.1'
)
UNICODE_PROMPT = 'ねこ, 猫 — “quoted”, émoji 😀\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 42, Size: 64x64'


def picture(w=24, h=16, mode='RGB'):
    img = Image.new(mode, (w, h))
    px = img.load()
    for x in range(w):
        for y in range(h):
            v = (x * 37 + y * 91) % 256
            px[x, y] = (v, 255 - v, (v * 7) % 256, 255)[: len(mode)]
    return img


def save_png(name, img, texts, zip_keys=()):
    info = PngInfo()
    for k, v in texts.items():
        info.add_text(k, v, zip=k in zip_keys)
    img.save(os.path.join(OUT, name), pnginfo=info)


def save_with_exif(name, fmt, text):
    path = os.path.join(OUT, name)
    picture().save(path, format=fmt, quality=80)
    exif = piexif.dump({'Exif': {piexif.ExifIFD.UserComment: piexif.helper.UserComment.dump(text, encoding='unicode')}})
    piexif.insert(exif, path)


def stealth(name, text, mode, compressed):
    sig = 'stealth_' + ('png' if mode == 'alpha' else 'rgb') + ('comp' if compressed else 'info')
    payload = gzip.compress(text.encode('utf-8')) if compressed else text.encode('utf-8')
    bits = ''.join(format(b, '08b') for b in sig.encode('utf-8'))
    data = ''.join(format(b, '08b') for b in payload)
    bits += format(len(data), '032b') + data
    pixels = len(bits) if mode == 'alpha' else (len(bits) + 2) // 3
    img = picture(32, pixels // 32 + 3)  # a few rows to spare: the reader must stop at the bit count
    if mode == 'alpha':
        img.putalpha(255)
    px = img.load()
    w, h = img.size
    i = 0
    for x in range(w):
        for y in range(h):
            if i >= len(bits):
                break
            v = list(px[x, y])
            if mode == 'alpha':
                v[3] = (v[3] & ~1) | int(bits[i])
                i += 1
            else:
                for c in range(3):
                    if i + c < len(bits):
                        v[c] = (v[c] & ~1) | int(bits[i + c])
                i += 3
            px[x, y] = tuple(v)
    assert i >= len(bits), f'{name}: picture too small for {len(bits)} bits'
    img.save(os.path.join(OUT, name))


COMFY_PROMPT = {
    '4': {'class_type': 'CheckpointLoaderSimple', 'inputs': {'ckpt_name': 'sd15/dreamshaper_8.safetensors'}},
    '10': {'class_type': 'LoraLoader', 'inputs': {'lora_name': 'add_detail.safetensors', 'strength_model': 0.7, 'strength_clip': 0.7, 'model': ['4', 0], 'clip': ['4', 1]}},
    '11': {'class_type': 'CLIPSetLastLayer', 'inputs': {'stop_at_clip_layer': -2, 'clip': ['10', 1]}},
    '6': {'class_type': 'CLIPTextEncode', 'inputs': {'text': 'a mountain lake at dawn', 'clip': ['11', 0]}},
    '12': {'class_type': 'CLIPTextEncode', 'inputs': {'text': 'a red canoe', 'clip': ['11', 0]}},
    '13': {'class_type': 'ConditioningSetArea', 'inputs': {'conditioning': ['12', 0], 'width': 256, 'height': 256, 'x': 128, 'y': 384, 'strength': 0.8}},
    '14': {'class_type': 'ConditioningCombine', 'inputs': {'conditioning_1': ['6', 0], 'conditioning_2': ['13', 0]}},
    '7': {'class_type': 'CLIPTextEncode', 'inputs': {'text': 'blurry, watermark', 'clip': ['11', 0]}},
    '20': {'class_type': 'CLIPTextEncode', 'inputs': {'text': 'an unused draft prompt', 'clip': ['11', 0]}},
    '5': {'class_type': 'EmptyLatentImage', 'inputs': {'width': 512, 'height': 640, 'batch_size': 1}},
    '3': {'class_type': 'KSampler', 'inputs': {'seed': 8566257, 'steps': 20, 'cfg': 8, 'sampler_name': 'euler', 'scheduler': 'normal', 'denoise': 1,
                                               'model': ['10', 0], 'positive': ['14', 0], 'negative': ['7', 0], 'latent_image': ['5', 0]}},
    '15': {'class_type': 'LatentUpscaleBy', 'inputs': {'upscale_method': 'nearest-exact', 'scale_by': 1.5, 'samples': ['3', 0]}},
    '16': {'class_type': 'KSampler', 'inputs': {'seed': 99, 'steps': 14, 'cfg': 7.5, 'sampler_name': 'dpmpp_2m', 'scheduler': 'karras', 'denoise': 0.5,
                                                'model': ['10', 0], 'positive': ['14', 0], 'negative': ['7', 0], 'latent_image': ['15', 0]}},
    '17': {'class_type': 'VAELoader', 'inputs': {'vae_name': 'vae-ft-mse.safetensors'}},
    '8': {'class_type': 'VAEDecode', 'inputs': {'samples': ['16', 0], 'vae': ['17', 0]}},
    '9': {'class_type': 'SaveImage', 'inputs': {'filename_prefix': 'ComfyUI', 'images': ['8', 0]}},
}
COMFY_WORKFLOW = {'last_node_id': 17, 'nodes': [{'id': 3, 'type': 'KSampler', 'widgets_values': [8566257, 'fixed', 20, 8, 'euler', 'normal', 1]}], 'links': [], 'version': 0.4}

INVOKE = {
    'generation_mode': 'txt2img', 'positive_prompt': 'a lighthouse at dusk', 'negative_prompt': 'blurry', 'width': 768, 'height': 512,
    'seed': 1234567, 'rand_device': 'cpu', 'cfg_scale': 7.5, 'cfg_rescale_multiplier': 0, 'steps': 30, 'scheduler': 'dpmpp_2m_k',
    'clip_skip': 1, 'model': {'key': 'abc', 'hash': 'blake3:1234', 'name': 'Deliberate v2', 'base': 'sd-1', 'type': 'main'},
    'vae': {'key': 'v', 'hash': 'h', 'name': 'sd-vae-ft-mse', 'base': 'sd-1', 'type': 'vae'},
    'loras': [{'model': {'key': 'l', 'hash': 'h', 'name': 'add_detail', 'base': 'sd-1', 'type': 'lora'}, 'weight': 0.75}],
    'app_version': '4.2.9',
}
SD_METADATA = {
    'model': 'stable diffusion', 'model_weights': 'stable-diffusion-1.5', 'model_hash': 'cc6cb27103417325ff94f52b7a5d2dde45a7515b25c255d8e396c90014281516',
    'app_id': 'invoke-ai/InvokeAI', 'app_version': '2.2.5',
    'image': {'prompt': [{'prompt': 'a fantasy castle [ugly, blurry] on a hill [lowres]', 'weight': 1.0}], 'steps': 50, 'cfg_scale': 7.5,
              'threshold': 0, 'perlin': 0, 'height': 512, 'width': 512, 'seed': 42, 'seamless': False, 'hires_fix': False,
              'type': 'txt2img', 'postprocessing': None, 'sampler': 'k_lms', 'variations': []},
}
DREAM = '"a fantasy castle [ugly, blurry] on a hill [lowres]" -s 50 -S 42 -W 512 -H 512 -C 7.5 -A k_lms'

FOOOCUS = {
    'adm_guidance': '(1.5, 0.8, 0.3)', 'base_model': 'juggernautXL_v8Rundiffusion', 'base_model_hash': '06bdf4e3ab',
    'clip_skip': 2, 'full_negative_prompt': ['(worst quality:1.3)', 'blurry'], 'full_prompt': ['a red fox, cinematic', 'highly detailed'],
    'guidance_scale': 4, 'loras': [['sd_xl_offset_example-lora_1.0', 0.1, '4852686128']], 'metadata_scheme': 'fooocus',
    'negative_prompt': 'blurry', 'performance': 'Speed', 'prompt': 'a red fox', 'prompt_expansion': 'a red fox, cinematic, highly detailed',
    'refiner_model': 'None', 'refiner_switch': 0.5, 'resolution': '(1152, 896)', 'sampler': 'dpmpp_2m_sde_gpu', 'scheduler': 'karras',
    'seed': '1786381530', 'sharpness': 2, 'steps': 30, 'styles': "['Fooocus V2', 'Fooocus Enhance', 'Fooocus Sharp']",
    'vae': 'Default (model)', 'version': 'Fooocus v2.5.5',
}

NOVELAI_COMMENT = {
    'prompt': '1girl, best quality', 'steps': 28, 'height': 1216, 'width': 832, 'scale': 5.0, 'uncond_scale': 1.0, 'cfg_rescale': 0.0,
    'seed': 3215789, 'n_samples': 1, 'hide_debug_overlay': False, 'noise_schedule': 'karras', 'legacy_v3_extend': False,
    'sampler': 'k_euler_ancestral', 'sm': False, 'sm_dyn': False, 'uc': 'lowres, bad anatomy', 'request_type': 'PromptGenerateRequest',
    'signed_hash': 'x' * 2000,
}
NOVELAI = {
    'Title': 'NovelAI generated image', 'Description': '1girl, best quality', 'Software': 'NovelAI',
    'Source': 'NovelAI Diffusion V4.5 4BDE2A90', 'Generation time': '5.2', 'Comment': json.dumps(NOVELAI_COMMENT),
}


def main():
    os.makedirs(OUT, exist_ok=True)
    save_png('a1111.png', picture(), {'parameters': A1111})
    save_png('a1111-itxt.png', picture(), {'parameters': UNICODE_PROMPT})
    save_png('a1111-ztxt.png', picture(), {'parameters': A1111}, zip_keys=('parameters',))
    save_with_exif('a1111.jpg', 'JPEG', A1111)
    save_with_exif('a1111.webp', 'WEBP', A1111)
    stealth('stealth-alpha.png', A1111, 'alpha', False)
    stealth('stealth-alpha-comp.png', A1111, 'alpha', True)
    stealth('stealth-rgb.png', A1111, 'rgb', False)
    stealth('stealth-rgb-comp.png', A1111, 'rgb', True)
    stealth('stealth-novelai.png', json.dumps(NOVELAI), 'alpha', True)
    save_png('comfyui.png', picture(), {'prompt': json.dumps(COMFY_PROMPT), 'workflow': json.dumps(COMFY_WORKFLOW)})
    save_png('invokeai.png', picture(), {'invokeai_metadata': json.dumps(INVOKE)})
    save_png('invokeai2.png', picture(), {'Dream': DREAM, 'sd-metadata': json.dumps(SD_METADATA)})
    save_png('invokeai-dream.png', picture(), {'Dream': DREAM})
    save_png('fooocus.png', picture(), {'parameters': json.dumps(FOOOCUS), 'fooocus_scheme': 'fooocus'})
    img = picture()
    exif = img.getexif()
    exif[0x9286] = json.dumps(FOOOCUS)
    exif[0x927C] = 'fooocus'
    exif[0x0131] = 'Fooocus v2.5.5'
    img.save(os.path.join(OUT, 'fooocus.jpg'), quality=80, exif=exif)
    save_png('novelai.png', picture(mode='RGBA'), NOVELAI)
    for f in sorted(os.listdir(OUT)):
        print(f, os.path.getsize(os.path.join(OUT, f)))


if __name__ == '__main__':
    main()
