// Reverse-mode differentiation of ONNX graphs built with ../onnx/graph.ts, in standard ops only.
export { buildGradientGraph } from './reverse.ts';
export type { GradientOptions } from './reverse.ts';
export { RULES, type GradientRule, type RuleContext } from './rules.ts';
export type { ConvForms } from './conv.ts';
export { AutodiffError } from './util.ts';
