import { defineStore } from 'pinia';
import { computed, reactive, watch } from 'vue';
import { CLUSTER_PRESETS, type ClusterPreset } from '../../../common/clusterModel';
import { api } from '../api';
import { applyDraft, draftOf, PRESET_FIELDS, type AppliedDraft, type PresetDraft } from '../analysis/projection';

const DRAFT_KEY = 'cluster-presets';

/**
 * The cluster presets as the user edited them in Cluster, shared with Compare's speedup columns so
 * both views project with the same alpha and beta. The text of each field survives restarts.
 */
export const useClusterPresets = defineStore('clusterPresets', () => {
  /** The user's text per preset field; starts as the paper's values. */
  const drafts = reactive<Record<string, PresetDraft>>(
    Object.fromEntries(CLUSTER_PRESETS.map((p) => [p.id, draftOf(p)])),
  );
  const applied = computed<Record<string, AppliedDraft>>(() =>
    Object.fromEntries(CLUSTER_PRESETS.map((p) => [p.id, applyDraft(p, drafts[p.id]!)])),
  );
  const presets = computed<ClusterPreset[]>(() => CLUSTER_PRESETS.map((p) => applied.value[p.id]!.preset));
  const edited = computed(() => new Set(CLUSTER_PRESETS.filter((p) => applied.value[p.id]!.edited).map((p) => p.id)));

  function reset(id: string): void {
    const base = CLUSTER_PRESETS.find((p) => p.id === id)!;
    Object.assign(drafts[id]!, draftOf(base));
  }

  // Load the saved drafts once, then save (debounced) on every edit.
  let restored = false;
  void api
    .loadDraft(DRAFT_KEY)
    .then((text) => {
      if (!text) return;
      try {
        const saved = JSON.parse(text) as Record<string, Partial<PresetDraft>>;
        for (const p of CLUSTER_PRESETS) {
          for (const f of PRESET_FIELDS) {
            const v = saved[p.id]?.[f];
            if (typeof v === 'string') drafts[p.id]![f] = v;
          }
        }
      } catch {
        // A draft that is not JSON is dropped: the paper's values stay.
      }
    })
    .catch(() => {})
    .finally(() => (restored = true));
  let saveTimer: ReturnType<typeof setTimeout> | null = null;
  watch(
    drafts,
    () => {
      if (!restored) return;
      if (saveTimer) clearTimeout(saveTimer);
      saveTimer = setTimeout(() => void api.saveDraft(DRAFT_KEY, JSON.stringify(drafts)).catch(() => {}), 500);
    },
    { deep: true },
  );

  return { drafts, applied, presets, edited, reset };
});
