import { ref } from 'vue';
import { api } from '../../api';
import { useAppStore } from '../../stores/app';

/**
 * A change to this machine's local workers (their number, their GPUs): while it is applied the caller's
 * buttons wait; after it the hub's info and the worker list are reloaded, since the workers restarted.
 */
export function useLocalWorkersChange() {
  const app = useAppStore();
  const applying = ref(false);
  const error = ref<string | null>(null);

  async function apply(change: () => Promise<unknown>): Promise<void> {
    applying.value = true;
    error.value = null;
    try {
      await change();
      app.info = await api.info();
      await app.refreshWorkers();
    } catch (e) {
      error.value = (e as Error).message;
    } finally {
      applying.value = false;
    }
  }

  return { applying, error, apply };
}
