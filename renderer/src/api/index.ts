import type { SparseLabApi } from '../../../common/api';
import { connectBridge } from './bridgeClient';

declare global {
  interface Window {
    /** Set by the preload in the desktop app; absent in browser mode. */
    sparselab?: SparseLabApi;
  }
}

/** The core's API: the preload's in Electron, the /api WebSocket (token from the page's URL) in a browser. */
function resolveApi(): SparseLabApi {
  if (window.sparselab) return window.sparselab;
  const token = new URLSearchParams(window.location.search).get('token') ?? '';
  const scheme = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
  return connectBridge(`${scheme}//${window.location.host}/api?token=${encodeURIComponent(token)}`);
}

export const api: SparseLabApi = resolveApi();
