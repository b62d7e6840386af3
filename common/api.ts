/** The typed API the renderer sees, exposed by the preload (Electron) or a WebSocket bridge (browser mode). */
export interface SparseLabApi {
  versions: { electron: string; chrome: string };
}
