import { defineStore } from 'pinia';
import { computed, reactive, ref, watch } from 'vue';
import type { ExperimentTemplate, RunEstimate } from '../../../common/api';
import { experimentSchema, type ExperimentInput } from '../../../common/experiment';
import { hubTrafficWarning } from '../../../common/hubTraffic';
import { api } from '../api';
import {
  emptyArm,
  emptyForm,
  experimentToForm,
  formToObject,
  problemsByPath,
  validate,
  type ArmForm,
  type ExperimentForm,
  type Problem,
} from '../designer/form';
import { formatOf, parseText, serialize, updateText, type TextFormat, type TextProblem } from '../designer/text';
import { useAppStore } from './app';

export const DRAFT_KEY = 'designer';

/** A plain copy (no Vue proxies): Electron's IPC clones arguments and cannot clone proxies. */
function plain(value: unknown): ExperimentInput {
  return JSON.parse(JSON.stringify(value)) as ExperimentInput;
}
const DRAFT_DEBOUNCE_MS = 600;
const ESTIMATE_DEBOUNCE_MS = 700;

/** What the designer persists with api.saveDraft (JSON). */
interface Draft {
  text: string;
  format: TextFormat;
  sourceName: string | null;
  /** While the text does not parse: the form's last valid state, to restore the form from. */
  formText?: string;
  /** The text as the template or file gave it, to tell whether the draft was edited since. */
  baseText?: string;
}

/**
 * The experiment being designed. The text (YAML or JSON) and the form are two views of one experiment:
 * editing the form rewrites the text (only the nodes that changed); editing the text refills the form as
 * soon as it parses (until then the form keeps what it had and the syntax errors are shown).
 */
export const useDesignerStore = defineStore('designer', () => {
  const app = useAppStore();

  const form = reactive<ExperimentForm>(emptyForm());
  const text = ref('');
  const format = ref<TextFormat>('yaml');
  /** File or template name the experiment came from (passed to launch). */
  const sourceName = ref<string | null>(null);
  /** The text as that template or file gave it: the draft differs when the user edited it. */
  const baseText = ref<string | null>(null);
  const edited = computed(() => baseText.value !== null && text.value !== baseText.value);
  const syntaxProblems = ref<TextProblem[]>([]);
  const textProblems = ref<TextProblem[]>([]);

  const templates = ref<ExperimentTemplate[]>([]);
  const estimate = ref<RunEstimate | null>(null);
  const estimateError = ref<string | null>(null);
  const estimating = ref(false);
  const launching = ref(false);
  const launchError = ref<string | null>(null);
  /** Problems of the last opened file (the form kept what it had). */
  const openProblems = ref<string[]>([]);
  const ready = ref(false);

  /** The form's object and every problem (the form's own, then the schema's). */
  const current = computed(() => {
    const { value, problems: formProblems } = formToObject(form);
    const problems: Problem[] = validate(value, formProblems);
    return { value, problems };
  });
  const errors = computed(() => problemsByPath(current.value.problems));
  const valid = computed(
    () => current.value.problems.length === 0 && syntaxProblems.value.length === 0 && textProblems.value.length === 0,
  );
  /** A native experiment whose gradients are more than one hub carries: says so, and offers the torch engine. */
  const hubWarning = computed(() => {
    const parsed = experimentSchema.safeParse(current.value.value);
    return parsed.success ? hubTrafficWarning(parsed.data) : null;
  });
  function useTorchEngine(): void {
    form.engine = 'torch';
  }
  const runCount = computed(() => {
    const v = current.value.value;
    const seeds = Array.isArray(v.seeds) ? v.seeds.length : 1;
    return (Array.isArray(v.arms) ? v.arms.length : 0) * seeds;
  });

  /** The form as JSON when it was last filled from the text: a form change that differs is the user's. */
  let formFromText = '';

  function fillForm(value: unknown): void {
    Object.assign(form, experimentToForm(value));
    formFromText = JSON.stringify(form);
  }

  /** The user (or a file, template or draft) set the text. */
  function setText(next: string, nextFormat: TextFormat = format.value): void {
    text.value = next;
    format.value = nextFormat;
    const parsed = parseText(next);
    syntaxProblems.value = parsed.syntax;
    textProblems.value = parsed.schema;
    if (parsed.syntax.length === 0) fillForm(parsed.value);
    scheduleDraft();
  }

  watch(
    form,
    () => {
      if (JSON.stringify(form) === formFromText) return;
      formFromText = JSON.stringify(form);
      text.value = updateText(text.value, current.value.value, format.value);
      const parsed = parseText(text.value);
      syntaxProblems.value = parsed.syntax;
      textProblems.value = parsed.schema;
      scheduleDraft();
    },
    { deep: true },
  );

  /** Switches the text between YAML and JSON (when it parses; otherwise only the format of the next write). */
  function setFormat(next: TextFormat): void {
    if (next === format.value) return;
    if (syntaxProblems.value.length === 0) setText(serialize(parseText(text.value).value, next), next);
    else format.value = next;
  }

  /** Throws away text that does not parse: the text is written again from the form (its last valid state). */
  function discardTextEdits(): void {
    setText(serialize(current.value.value, format.value));
  }

  function addArm(arm: ArmForm = emptyArm()): void {
    form.arms.push(arm);
  }

  function removeArm(index: number): void {
    form.arms.splice(index, 1);
  }

  // Draft: saved (debounced) whenever the text changes, restored on start.
  let draftTimer: ReturnType<typeof setTimeout> | null = null;
  function scheduleDraft(): void {
    if (!ready.value) return;
    if (draftTimer) clearTimeout(draftTimer);
    draftTimer = setTimeout(() => void saveDraftNow(), DRAFT_DEBOUNCE_MS);
  }
  async function saveDraftNow(): Promise<void> {
    if (draftTimer) clearTimeout(draftTimer);
    draftTimer = null;
    const draft: Draft = { text: text.value, format: format.value, sourceName: sourceName.value };
    if (baseText.value !== null) draft.baseText = baseText.value;
    if (syntaxProblems.value.length > 0) draft.formText = serialize(current.value.value, 'json');
    await app.attempt(() => api.saveDraft(DRAFT_KEY, JSON.stringify(draft)));
  }

  function restoreDraft(saved: string): boolean {
    try {
      const draft = JSON.parse(saved) as Partial<Draft>;
      if (typeof draft.text !== 'string') return false;
      sourceName.value = draft.sourceName ?? null;
      baseText.value = typeof draft.baseText === 'string' ? draft.baseText : null;
      if (typeof draft.formText === 'string') fillForm(parseText(draft.formText).value);
      setText(draft.text, draft.format === 'json' ? 'json' : 'yaml');
      return true;
    } catch {
      // An older draft that is only the text.
      setText(saved, formatOf(saved));
      return true;
    }
  }

  function loadTemplate(file: string): void {
    const template = templates.value.find((t) => t.file === file);
    if (!template) return;
    openProblems.value = [];
    sourceName.value = template.file;
    baseText.value = template.text;
    setText(template.text, 'yaml');
  }

  /** Opens a YAML or JSON file; a file with problems is refused (listed) and the current experiment kept. */
  async function openFile(file: File): Promise<boolean> {
    const content = await file.text();
    const parsed = parseText(content);
    const problems = [...parsed.syntax, ...parsed.schema].map((p) => p.message);
    if (problems.length > 0) {
      openProblems.value = problems.map((p) => `${file.name}: ${p}`);
      return false;
    }
    openProblems.value = [];
    sourceName.value = file.name;
    baseText.value = content;
    setText(content, formatOf(content, file.name));
    return true;
  }

  /** The experiment as a file to download: its name and text in the chosen format. */
  function fileFor(target: TextFormat): { name: string; text: string } {
    const base = (form.name.trim() || 'experiment').replace(/[^\w.-]+/g, '-');
    const body =
      target === format.value || syntaxProblems.value.length > 0
        ? text.value
        : serialize(parseText(text.value).value, target);
    return { name: `${base}.${target}`, text: body };
  }

  async function launch(): Promise<boolean> {
    if (!valid.value || launching.value) return false;
    launching.value = true;
    launchError.value = null;
    try {
      await api.launch(plain(current.value.value), sourceName.value ?? undefined);
      await app.attempt(app.refreshRuns);
      app.show('runs');
      return true;
    } catch (e) {
      launchError.value = (e as Error).message;
      return false;
    } finally {
      launching.value = false;
    }
  }

  // Estimate: refreshed (debounced) while the experiment is valid.
  let estimateTimer: ReturnType<typeof setTimeout> | null = null;
  let estimateSeq = 0;
  watch(
    () => (valid.value ? JSON.stringify(current.value.value) : null),
    (key) => {
      if (estimateTimer) clearTimeout(estimateTimer);
      if (key === null) return;
      // The shown estimate is for the experiment as it was: say so until the new one arrives.
      estimating.value = true;
      estimateTimer = setTimeout(() => void refreshEstimate(), ESTIMATE_DEBOUNCE_MS);
    },
  );
  async function refreshEstimate(): Promise<void> {
    if (!valid.value) {
      estimating.value = false;
      return;
    }
    const seq = ++estimateSeq;
    estimating.value = true;
    try {
      const result = await api.estimate(plain(current.value.value));
      if (seq === estimateSeq) {
        estimate.value = result;
        estimateError.value = null;
      }
    } catch (e) {
      if (seq === estimateSeq) estimateError.value = (e as Error).message;
    } finally {
      if (seq === estimateSeq) estimating.value = false;
    }
  }

  /** Restores the draft, else the default template. */
  async function init(): Promise<void> {
    const [list, saved] = await Promise.all([
      app.attempt(() => api.templates()),
      app.attempt(() => api.loadDraft(DRAFT_KEY)),
    ]);
    templates.value = list ?? [];
    if (!(saved && restoreDraft(saved))) {
      const fallback = templates.value.find((t) => t.isDefault) ?? templates.value[0];
      if (fallback) loadTemplate(fallback.file);
      else setText(serialize({ ...formToObject(form).value, arms: [{ method: 'dense' }] }, 'yaml'));
    }
    ready.value = true;
    if (valid.value) void refreshEstimate();
    // The last keystrokes before closing: write now rather than after the debounce.
    window.addEventListener('beforeunload', () => {
      if (draftTimer) void saveDraftNow();
    });
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'hidden' && draftTimer) void saveDraftNow();
    });
  }

  return {
    form,
    text,
    format,
    sourceName,
    edited,
    syntaxProblems,
    textProblems,
    templates,
    estimate,
    estimateError,
    estimating,
    launching,
    launchError,
    openProblems,
    ready,
    current,
    errors,
    valid,
    hubWarning,
    useTorchEngine,
    runCount,
    setText,
    setFormat,
    discardTextEdits,
    addArm,
    removeArm,
    loadTemplate,
    openFile,
    fileFor,
    launch,
    refreshEstimate,
    saveDraftNow,
    init,
  };
});
