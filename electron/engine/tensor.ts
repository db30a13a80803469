// The engine's common currency: a dense tensor with a static shape, stored row-major (C order).
// Every module (graph builder, runtime, safetensors, samplers, pipelines) passes tensors as TensorData.

export type DType = 'float32' | 'float16' | 'float64' | 'int64' | 'int32' | 'int8' | 'uint8' | 'bool';
export type Shape = readonly number[];

export type TypedArrayFor<D extends DType> = D extends 'float32'
  ? Float32Array
  : D extends 'float64'
    ? Float64Array
    : D extends 'int64'
      ? BigInt64Array
      : D extends 'int32'
        ? Int32Array
        : D extends 'int8'
          ? Int8Array
          : D extends 'float16'
            ? Uint16Array // raw IEEE half bits
            : Uint8Array; // uint8, bool

export type AnyTypedArray =
  | Float32Array
  | Float64Array
  | BigInt64Array
  | Int32Array
  | Int8Array
  | Uint16Array
  | Uint8Array;

export interface TensorData<D extends DType = DType> {
  readonly dtype: D;
  readonly shape: Shape;
  readonly data: TypedArrayFor<D>;
}

export const BYTES_PER_ELEMENT: Record<DType, number> = {
  float32: 4,
  float16: 2,
  float64: 8,
  int64: 8,
  int32: 4,
  int8: 1,
  uint8: 1,
  bool: 1,
};

export function numel(shape: Shape): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new Error(`invalid dimension ${d} in shape [${shape.join(', ')}]`);
    n *= d;
  }
  return n;
}

export function allocate<D extends DType>(dtype: D, n: number): TypedArrayFor<D> {
  switch (dtype) {
    case 'float32':
      return new Float32Array(n) as TypedArrayFor<D>;
    case 'float64':
      return new Float64Array(n) as TypedArrayFor<D>;
    case 'int64':
      return new BigInt64Array(n) as TypedArrayFor<D>;
    case 'int32':
      return new Int32Array(n) as TypedArrayFor<D>;
    case 'int8':
      return new Int8Array(n) as TypedArrayFor<D>;
    case 'float16':
      return new Uint16Array(n) as TypedArrayFor<D>;
    default:
      return new Uint8Array(n) as TypedArrayFor<D>;
  }
}

export function tensor<D extends DType>(dtype: D, shape: Shape, data?: TypedArrayFor<D>): TensorData<D> {
  const n = numel(shape);
  const d = data ?? allocate(dtype, n);
  if (d.length !== n) {
    throw new Error(`tensor data has ${d.length} elements but shape [${shape.join(', ')}] needs ${n}`);
  }
  return { dtype, shape: [...shape], data: d };
}

export function float32(shape: Shape, data?: Float32Array | number[]): TensorData<'float32'> {
  return tensor('float32', shape, data === undefined ? undefined : Float32Array.from(data));
}

export function shapeToString(shape: Shape): string {
  return `[${shape.join(', ')}]`;
}

// IEEE 754 half <-> single conversions (round to nearest even), for fp16 weights on disk.
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

export function halfToFloat(h: number): number {
  const s = (h & 0x8000) >> 15;
  const e = (h & 0x7c00) >> 10;
  const f = h & 0x03ff;
  let v: number;
  if (e === 0) v = f * 2 ** -24;
  else if (e === 0x1f) v = f ? NaN : Infinity;
  else v = (1 + f / 1024) * 2 ** (e - 15);
  return s ? -v : v;
}

let halfValues: Float32Array | null = null;

/** All 65,536 half values as float32, so widening fp16 weights is one table read per element. */
export function halfTable(): Float32Array {
  if (!halfValues) {
    halfValues = new Float32Array(65536);
    for (let i = 0; i < 65536; i++) halfValues[i] = halfToFloat(i);
  }
  return halfValues;
}

export function floatToHalf(v: number): number {
  f32[0] = v;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >> shift;
    const rem = mant & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rem > halfway || (rem === halfway && (half & 1))) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (half & 1))) half++;
  return sign | half;
}

export function bf16ToFloat(b: number): number {
  u32[0] = b << 16;
  return f32[0]!;
}
