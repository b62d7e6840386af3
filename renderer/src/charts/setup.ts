import { Chart, registerables } from 'chart.js';

/** Chart.js with every controller, scale and plugin registered once for all views. */
Chart.register(...registerables);
Chart.defaults.animation = false;
Chart.defaults.font.family = "system-ui, -apple-system, 'Segoe UI', sans-serif";

export { Chart };
