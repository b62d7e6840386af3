import type { ApiMethod, AppEvent, BridgeMessage, SparseLabApi } from '../../../common/api';
import { API_METHODS } from '../../../common/api';

interface Pending {
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
}

/**
 * Browser mode: the same API over the core's /api WebSocket. Calls made while the socket is
 * (re)connecting wait for it; a lost connection fails the calls in flight and reconnects.
 */
export function connectBridge(url: string): SparseLabApi {
  const pending = new Map<number, Pending>();
  const listeners = new Set<(event: AppEvent) => void>();
  let nextId = 1;
  let socket: Promise<WebSocket> = open();

  function open(): Promise<WebSocket> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url);
      ws.onopen = () => resolve(ws);
      ws.onerror = () => reject(new Error(`cannot reach SparseLab at ${url.replace(/token=[^&]*/, 'token=…')}`));
      ws.onmessage = (message) => receive(JSON.parse(String(message.data)) as BridgeMessage);
      ws.onclose = (close) => {
        const reason = close.reason || 'the connection to SparseLab closed';
        for (const call of pending.values()) call.reject(new Error(reason));
        pending.clear();
        // A wrong token is final; anything else (server restart, sleep) is retried.
        if (close.code !== 4401) setTimeout(() => (socket = open()), 1000);
      };
    });
  }

  function receive(message: BridgeMessage): void {
    if ('event' in message) {
      for (const listener of listeners) listener(message.event);
      return;
    }
    const call = pending.get(message.id);
    if (!call) return;
    pending.delete(message.id);
    if (message.ok) call.resolve(message.result);
    else call.reject(new Error(message.error));
  }

  async function invoke(method: ApiMethod, args: unknown[]): Promise<unknown> {
    const ws = await socket;
    const id = nextId++;
    return new Promise((resolve, reject) => {
      pending.set(id, { resolve, reject });
      ws.send(JSON.stringify({ id, method, args }));
    });
  }

  const api = Object.fromEntries(
    API_METHODS.map((method) => [method, (...args: unknown[]) => invoke(method, args)]),
  ) as Omit<SparseLabApi, 'onEvent'>;
  return {
    ...api,
    onEvent(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}
