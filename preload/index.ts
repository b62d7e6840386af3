import { contextBridge } from 'electron';
import type { SparseLabApi } from '../common/api';

/** The renderer's only door to the app: a narrow typed API, never ipcRenderer itself. */
const api: SparseLabApi = {
  versions: { electron: process.versions.electron ?? 'unknown', chrome: process.versions.chrome ?? 'unknown' },
};

contextBridge.exposeInMainWorld('sparselab', api);
