/** Options the views' small charts share (Compare draws its own, compare/chart.ts). */
import { formatNumber } from '../analysis/histogram';
import { isRoundLogTick } from '../compare/ticks';

/** Sized by its box, data given as {x, y} points that Chart.js does not parse again. */
export const BOX_CHART = { responsive: true, maintainAspectRatio: false, parsing: false } as const;

/** Lines of recorded iterations: small points, lines of width 2. */
export const LINE_ELEMENTS = { point: { radius: 2 }, line: { borderWidth: 2 } } as const;

/** The x axis of per-iteration charts. */
export const ITERATION_AXIS = { type: 'linear', title: { display: true, text: 'iteration' } } as const;

/** Log axes label only 1, 2 and 5 times powers of ten, so their ticks do not run into each other. */
export function tickText(
  log: boolean,
  format: (v: number) => string = formatNumber,
): (value: number | string) => string {
  return (value) => {
    const v = Number(value);
    return !log || isRoundLogTick(v) ? format(v) : '';
  };
}

/** A value axis, linear or logarithmic, titled, with short tick labels. */
export function valueAxis(title: string, log = false) {
  return {
    type: log ? ('logarithmic' as const) : ('linear' as const),
    title: { display: true, text: title },
    ticks: { callback: tickText(log) },
  };
}
