import { Chart, registerables } from 'chart.js';

/** Chart.js with every controller, scale and plugin registered once for all views. */
Chart.register(...registerables);
Chart.defaults.animation = false;
Chart.defaults.font.family = "system-ui, -apple-system, 'Segoe UI', sans-serif";

/** A colour of the page's theme (styles.css), or the fallback outside a page (the bench, tests). */
function themeColor(name: string, fallback: string): string {
  if (typeof document === 'undefined') return fallback;
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
}

/** The chart background (read once per theme change: drawing must not force a style recalculation). */
export const theme = { panel: 'white' };

/** Text and grid lines follow the light or dark theme, and every chart redraws when the system switches. */
function applyTheme(): void {
  Chart.defaults.color = themeColor('--muted', '#66788a');
  Chart.defaults.borderColor = themeColor('--border', 'rgba(0, 0, 0, 0.1)');
  theme.panel = themeColor('--panel', 'white');
  for (const chart of Object.values(Chart.instances)) chart.update('none');
}

if (typeof window !== 'undefined' && typeof window.matchMedia === 'function') {
  applyTheme();
  window.matchMedia('(prefers-color-scheme: dark)').addEventListener('change', applyTheme);
}

export { Chart };
