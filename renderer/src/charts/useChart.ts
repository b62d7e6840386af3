import { onBeforeUnmount, onMounted, watch, type Ref } from 'vue';
import type { ChartConfiguration, ChartType } from 'chart.js';
import { Chart } from './setup';

/**
 * One Chart.js chart on a canvas, rebuilt from `config` whenever what it reads changes. The config is
 * plain data (no reactive proxies reach Chart.js). Shared by the gradients, kernels and cluster views (Compare draws its own, see compare/chart.ts).
 */
export function useChart<T extends ChartType>(
  canvas: Ref<HTMLCanvasElement | null>,
  config: () => ChartConfiguration<T>,
): { chart: () => Chart<T> | null } {
  let chart: Chart<T> | null = null;
  onMounted(() => {
    if (canvas.value) chart = new Chart(canvas.value, config());
  });
  watch(config, (next) => {
    if (!chart) return;
    chart.data = next.data;
    if (next.options) chart.options = next.options;
    chart.update();
  });
  onBeforeUnmount(() => {
    chart?.destroy();
    chart = null;
  });
  return { chart: () => chart };
}
