/**
 * Keyboard shortcuts. Views: 1-7 in the sidebar's order. Actions are declared where their control is,
 * with data-shortcut="KEY" on a button (clicked) or a field (focused); only controls of the shown view
 * react. Keys typed into a field are the field's, except Escape and Ctrl/Cmd+Enter.
 */
export interface ShortcutHelp {
  keys: string;
  what: string;
}

export const SHORTCUT_HELP: ShortcutHelp[] = [
  { keys: '1 … 7', what: 'Design, Runs, Workers, Compare, Gradients, Kernels, Cluster' },
  { keys: '/', what: 'search runs (Runs)' },
  { keys: 'Ctrl+Enter', what: 'launch the experiment (Design)' },
  { keys: 'c', what: 'compare the selected runs (Runs)' },
  { keys: 'l', what: 'the latest experiment (Compare)' },
  { keys: 'Esc', what: "close the run's page" },
  { keys: '?', what: 'this list' },
];

/** The key as data-shortcut spells it: "/", "c", "mod+enter", "escape". */
function shortcutKey(event: Pick<KeyboardEvent, 'key' | 'ctrlKey' | 'metaKey' | 'altKey'>): string | null {
  if (event.altKey) return null;
  const mod = event.ctrlKey || event.metaKey;
  const key = event.key.toLowerCase();
  if (mod) return key === 'enter' ? 'mod+enter' : null;
  return key === 'esc' ? 'escape' : key;
}

function typing(target: EventTarget | null): boolean {
  const el = target as HTMLElement | null;
  if (!el || !el.tagName) return false;
  return el.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(el.tagName);
}

export function installShortcuts(options: {
  showView: (index: number) => void;
  toggleHelp: () => void;
  /** The element of the view on screen, where data-shortcut controls are looked up. */
  currentView: () => HTMLElement | null;
}): () => void {
  const onKey = (event: KeyboardEvent): void => {
    const key = shortcutKey(event);
    if (key === null) return;
    if (typing(event.target) && key !== 'escape' && key !== 'mod+enter') return;
    if (/^[1-7]$/.test(key)) {
      options.showView(Number(key) - 1);
    } else if (key === '?') {
      options.toggleHelp();
    } else {
      const target = options.currentView()?.querySelector<HTMLElement>(`[data-shortcut="${CSS.escape(key)}"]`);
      if (!target) return;
      if (target instanceof HTMLInputElement || target instanceof HTMLTextAreaElement) target.focus();
      else if (!(target as HTMLButtonElement).disabled) target.click();
    }
    event.preventDefault();
  };
  window.addEventListener('keydown', onKey);
  return () => window.removeEventListener('keydown', onKey);
}
