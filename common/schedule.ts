import type { Experiment } from './experiment';

/** Learning rate at a (fractional) epoch: the schedule, times a linear warm-up if configured. */
export function learningRateAt(experiment: Experiment, epoch: number): number {
  const { lr, schedule, warmupEpochs } = experiment.optimizer;
  let rate = lr;
  if (schedule.type === 'step') {
    rate *= schedule.gamma ** schedule.milestones.filter((m) => epoch >= m).length;
  } else if (schedule.type === 'cosine') {
    const progress = Math.min(1, epoch / experiment.epochs);
    rate = schedule.minLr + ((lr - schedule.minLr) * (1 + Math.cos(Math.PI * progress))) / 2;
  }
  return warmupEpochs > 0 ? rate * Math.min(1, epoch / warmupEpochs) : rate;
}
