import { contextBridge, ipcRenderer, type IpcRendererEvent } from 'electron';
import { API_METHODS, IPC_CALL, IPC_EVENT, type AppEvent, type SparseLabApi } from '../common/api';

type Reply = { ok: true; result: unknown } | { ok: false; error: string };

/**
 * The renderer's only door to the app: the typed API, each call one IPC invoke; never ipcRenderer
 * itself. Replies carry errors as plain messages so the user sees ours, not Electron's wrapping.
 */
const call =
  (method: string) =>
  async (...args: unknown[]): Promise<unknown> => {
    const reply = (await ipcRenderer.invoke(IPC_CALL, method, args)) as Reply;
    if (!reply.ok) throw new Error(reply.error);
    return reply.result;
  };

const api = Object.fromEntries(API_METHODS.map((method) => [method, call(method)])) as Omit<SparseLabApi, 'onEvent'>;

contextBridge.exposeInMainWorld('sparselab', {
  ...api,
  mode: 'electron',
  onEvent(listener: (event: AppEvent) => void): () => void {
    const forward = (_event: IpcRendererEvent, appEvent: AppEvent) => listener(appEvent);
    ipcRenderer.on(IPC_EVENT, forward);
    return () => ipcRenderer.off(IPC_EVENT, forward);
  },
} satisfies SparseLabApi & { mode: 'electron' });
