// ONNX TensorProto.DataType codes for the engine's dtypes (onnx/onnx.proto).
import type { DType } from '../tensor.ts';

export const ONNX_DTYPE: Record<DType, number> = {
  float32: 1,
  uint8: 2,
  int8: 3,
  int32: 6,
  int64: 7,
  bool: 9,
  float16: 10,
  float64: 11,
};

const FROM_ONNX = new Map<number, DType>(Object.entries(ONNX_DTYPE).map(([k, v]) => [v, k as DType]));

export function dtypeFromOnnx(code: number): DType {
  const d = FROM_ONNX.get(code);
  if (!d) throw new Error(`ONNX data type ${code} is not supported by the engine`);
  return d;
}

export function isFloat(d: DType): boolean {
  return d === 'float32' || d === 'float16' || d === 'float64';
}
