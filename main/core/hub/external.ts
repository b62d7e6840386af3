/**
 * The hub's side of external runs (common/externalRun.ts): connections that register a run trained outside
 * SparseLab's workers and stream its records. They are kept apart from the workers: never scheduled, never in a
 * group. The hub hands each registration to an ExternalRunHandler (the orchestrator's, which records the run in
 * the store) and checks that a connection only sends records of the run it registered.
 */
import type { LogRecord } from '../../../common/metrics';
import {
  CLOSE_CODES,
  type MetricsBatch,
  type RegisterRunMessage,
  type StatusMessage,
  type WorkerMessage,
} from '../../../common/protocol';
import type { ExternalRunSpec } from '../../../common/externalRun';
import type { ResolvedHubOptions } from './options';
import { watchLiveness, type Peer } from './peer';

/** What the hub asks of whoever records external runs. */
export interface ExternalRunHandler {
  /** Records a new run and returns its id; throws an Error whose message the connection is refused with. */
  register(spec: ExternalRunSpec, remoteAddress: string): string;
  metrics(runId: string, batch: MetricsBatch): void;
  log(record: LogRecord): void;
  status(runId: string, state: StatusMessage['state'], reason: string | null): void;
  /** The connection went away (or was dropped) before saying the run finished or failed. */
  lost(runId: string, reason: string): void;
}

/** The hub's options this uses: heartbeats and silence as for workers, the frame limit, the log. */
type LinkOptions = Pick<ResolvedHubOptions, 'heartbeatMs' | 'silenceMs' | 'maxPayload' | 'log'>;
/** The hub's refusal: sends `refused`, logs, closes with the code. */
type Disconnect = (peer: Peer, code: number, reason: string) => void;

interface Connection {
  runId: string;
  /** The client said finished or failed: its closing is no loss. */
  ended: boolean;
}

export class ExternalLink {
  private handler: ExternalRunHandler | null = null;
  private readonly connections = new Map<Peer, Connection>();
  private readonly timers: NodeJS.Timeout[];

  constructor(
    private readonly o: LinkOptions,
    private readonly disconnect: Disconnect,
  ) {
    this.timers = watchLiveness(() => this.connections.keys(), o, disconnect);
  }

  /** Accept registrations from now on, recorded by `handler`; returns a function that stops accepting them. */
  accept(handler: ExternalRunHandler): () => void {
    this.handler = handler;
    return () => {
      if (this.handler === handler) this.handler = null;
    };
  }

  /** The run ids of the external connections open now. */
  runIds(): string[] {
    return [...this.connections.values()].map((c) => c.runId);
  }

  /** Tells the run's connection that the run was cancelled (it stops and closes). */
  cancel(runId: string, reason: string): void {
    for (const [peer, connection] of this.connections) {
      if (connection.runId !== runId) continue;
      connection.ended = true;
      peer.send({ type: 'cancel', runId, reason }).catch(() => undefined);
    }
  }

  /** A pending connection's first message was registerRun, with a token the hub accepted. */
  register(peer: Peer, message: RegisterRunMessage): void {
    if (!this.handler) {
      this.disconnect(peer, CLOSE_CODES.protocolError, 'this hub does not record external runs');
      return;
    }
    let runId: string;
    try {
      runId = this.handler.register(message.spec, peer.remoteAddress);
    } catch (error) {
      this.disconnect(peer, CLOSE_CODES.protocolError, `could not register the run: ${(error as Error).message}`);
      return;
    }
    peer.state = 'external';
    peer.runId = runId;
    this.connections.set(peer, { runId, ended: false });
    const f = message.spec.framework;
    this.o.log(
      'info',
      `external run ${runId} registered from ${peer.remoteAddress}: ${f.name} ${f.version} (${f.backend})`,
    );
    peer
      .send({
        type: 'runRegistered',
        runId,
        heartbeatMs: this.o.heartbeatMs,
        silenceMs: this.o.silenceMs,
        maxFrameBytes: this.o.maxPayload,
      })
      .catch(() => undefined);
  }

  /** A message from a registered connection. */
  onMessage(peer: Peer, message: WorkerMessage): void {
    const connection = this.connections.get(peer);
    const handler = this.handler;
    if (!connection || !handler) return;
    const refuse = (reason: string) => this.disconnect(peer, CLOSE_CODES.protocolError, reason);
    switch (message.type) {
      case 'heartbeat':
        peer.lastHeartbeat = Date.now();
        return;
      case 'metrics': {
        const other = message.records.find((r) => r.runId !== connection.runId);
        if (other) {
          refuse(`sent records of run ${other.runId}; this connection registered run ${connection.runId}`);
          return;
        }
        this.safely(connection.runId, `${message.kind} records`, () =>
          handler.metrics(connection.runId, { kind: message.kind, records: message.records } as MetricsBatch),
        );
        return;
      }
      case 'log':
        this.safely(connection.runId, 'a log line', () =>
          handler.log({
            runId: connection.runId,
            workerId: null,
            rank: 0,
            level: message.level,
            message: message.message,
            time: message.time ?? Date.now(),
          }),
        );
        return;
      case 'status':
        if (message.runId !== connection.runId) {
          refuse(`sent the status of run ${message.runId}; this connection registered run ${connection.runId}`);
          return;
        }
        if (message.state !== 'started') connection.ended = true;
        this.safely(connection.runId, 'its status', () =>
          handler.status(connection.runId, message.state, message.reason ?? null),
        );
        return;
      default:
        refuse(`'${message.type}' is not a message an external run sends`);
    }
  }

  /** The hub forgot the connection (closed, refused, silent). */
  dropped(peer: Peer, reason: string): void {
    const connection = this.connections.get(peer);
    if (!connection) return;
    this.connections.delete(peer);
    const handler = this.handler;
    if (connection.ended || !handler) return;
    this.safely(connection.runId, 'its loss', () =>
      handler.lost(connection.runId, `the training script's connection ended: ${reason}`),
    );
  }

  /** A handler that throws (the store closed, the run deleted meanwhile) is logged; the hub goes on. */
  private safely(runId: string, what: string, action: () => void): void {
    try {
      action();
    } catch (error) {
      this.o.log('error', `external run ${runId}: could not record ${what}: ${(error as Error).message}`);
    }
  }

  close(): void {
    for (const t of this.timers) clearInterval(t);
  }
}
