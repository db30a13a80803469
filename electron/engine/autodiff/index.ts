// Reverse-mode differentiation of ONNX graphs built with ../onnx/graph.ts, in standard ops only:
//   buildGradientGraph(forward, loss, wrt, options?) → a graph that outputs 'loss' and 'grad:<name>'
// options.conv picks the conv gradient forms (default 'auto': the fastest measured on CPU, see
// bench/autodiff.bench.ts); options.stopGradient names values that pass no gradient.
export { buildGradientGraph } from './reverse.ts';
export type { GradientOptions } from './reverse.ts';
export { RULES, type GradientRule, type RuleContext } from './rules.ts';
export type { ConvForms } from './conv.ts';
export { AutodiffError } from './util.ts';
