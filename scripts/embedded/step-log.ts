// The training stages' progress line: the loss averaged over the last `every` steps, the gradient norm,
// learning rate and seconds per step.

export interface StepReport {
  step: number;
  loss: number;
  gradNorm: number;
  lr: number;
}

/** A function to call after every step; it logs one line each `every` steps. */
export function stepLogger(stage: string, log: (line: string) => void, every = 25): (r: StepReport) => void {
  let sum = 0;
  let t0 = Date.now();
  return (r) => {
    sum += r.loss;
    if (r.step % every !== 0) return;
    const dt = (Date.now() - t0) / every / 1000;
    t0 = Date.now();
    log(`${stage} step ${r.step} loss ${(sum / every).toFixed(4)} grad ${r.gradNorm.toFixed(3)} lr ${r.lr.toExponential(2)} ${dt.toFixed(2)} s/step`);
    sum = 0;
  };
}
