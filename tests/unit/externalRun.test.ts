/**
 * External runs end to end: a PyTorch DDP job (gpu/torch/examples/ddp_mnist.py, 2 ranks on gloo under
 * torchrun) streams its records into a hub, orchestrator and store started here, through sparselab_torch's
 * own WebSocket client; the hub's rules for such connections; `sparselab import` of a JSON Lines run.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { externalRunSpecSchema } from '../../common/externalRun';
import { decodeFrame, encodeFrame } from '../../common/frame';
import { PROTOCOL_VERSION, type Message } from '../../common/protocol';
import type { AppEvent } from '../../common/api';
import { AppCore } from '../../main/core/app';
import { importExternalRun, parseExternalRunFile } from '../../main/core/cli/import';
import { torchPythonEnv } from '../../main/core/cli/torchPython';
import { startHub, type Hub, type HubOptions } from '../../main/core/hub';
import { Orchestrator } from '../../main/core/runtime/orchestrator';
import { openStore, type Store } from '../../main/core/store';
import { torchPythonOrSkip } from '../torchParity';

const ROOT = resolve(__dirname, '../..');
const EXAMPLE = join(ROOT, 'gpu/torch/examples/ddp_mnist.py');

const python = torchPythonOrSkip('the external-run tests');
interface Core {
  store: Store;
  hub: Hub;
  orchestrator: Orchestrator;
}
let core: Core | null = null;

async function startCore(options: HubOptions = {}): Promise<Core> {
  const store = openStore(mkdtempSync(join(tmpdir(), 'sparselab-external-')));
  const hub = await startHub({ log: () => {}, ...options });
  core = { store, hub, orchestrator: new Orchestrator(store, hub) };
  return core;
}

const apps: AppCore[] = [];
const tmp = (prefix: string) => mkdtempSync(join(tmpdir(), prefix));

afterEach(async () => {
  for (const app of apps.splice(0)) await app.close();
  if (!core) return;
  core.orchestrator.close();
  await core.hub.close();
  core.store.close();
  core = null;
});

interface Exit {
  code: number | null;
  out: string;
}

function runPython(args: string[], env: Record<string, string>, onLine?: (line: string) => void): Promise<Exit> {
  return new Promise((done) => {
    const child = spawn(python!, args, {
      cwd: ROOT,
      env: { ...torchPythonEnv(), ...env },
    });
    let out = '';
    // Whole lines only, per stream: a pipe may split a line across chunks (a run id cut in two was cancelled).
    const lines = () => {
      let partial = '';
      return (chunk: Buffer) => {
        out += chunk.toString();
        const parts = (partial + chunk.toString()).split('\n');
        partial = parts.pop()!;
        for (const line of parts) if (line) onLine?.(line);
      };
    };
    child.stdout.on('data', lines());
    child.stderr.on('data', lines());
    child.on('close', (code) => done({ code, out }));
  });
}

/**
 * torchrun for 2 local ranks. --redirects/--tee 1: Debian 12's torch 1.13 under Python 3.11 fails with their
 * default of 0. A static rendezvous on a free port rather than --standalone's c10d one, whose keep-alives
 * time out on a loaded machine.
 */
async function torchrun(): Promise<string[]> {
  const port = await new Promise<number>((resolvePort) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolvePort(port));
    });
  });
  const rendezvous = ['--nnodes', '1', '--node_rank', '0', '--master_addr', '127.0.0.1', '--master_port', String(port)];
  return ['-m', 'torch.distributed.run', ...rendezvous, '--nproc_per_node', '2', '--redirects', '1', '--tee', '1'];
}

/** A raw connection to the hub, its messages decoded in order. */
function open(hub: Hub): Promise<{ ws: WebSocket; next: () => Promise<Message>; closed: Promise<number> }> {
  const ws = new WebSocket(hub.url);
  const queue: Message[] = [];
  const waiting: ((m: Message) => void)[] = [];
  ws.on('message', (data: Buffer) => {
    const { header } = decodeFrame(new Uint8Array(data));
    const w = waiting.shift();
    if (w) w(header);
    else queue.push(header);
  });
  const closed = new Promise<number>((r) => ws.on('close', (code) => r(code)));
  const next = () => new Promise<Message>((r) => (queue.length ? r(queue.shift()!) : waiting.push(r)));
  return new Promise((r) => ws.on('open', () => r({ ws, next, closed })));
}

describe.runIf(python !== null)('a DDP training script recorded by SparseLab', () => {
  it('streams 2-rank gloo runs of the example into a core: they appear with their records, finish, and compare like native runs', async () => {
    const app = await AppCore.start({
      mode: 'browser',
      dataDir: tmp('sparselab-app-'),
      localWorkers: 0,
      log: () => {},
    });
    apps.push(app);
    const events: AppEvent[] = [];
    app.api.onEvent((event) => events.push(event));
    const env = { SPARSELAB_HUB: app.hub.url, SPARSELAB_TOKEN: app.hub.token };
    const common = ['--epochs', '2', '--train-limit', '2560', '--test-limit', '500', '--experiment', 'ci-ddp'];
    for (const arm of [
      ['--method', 'gaussiank', '--density', '0.02'],
      ['--method', 'dense'],
    ]) {
      const exit = await runPython([...(await torchrun()), EXAMPLE, ...arm, ...common], env);
      expect(exit.code, exit.out).toBe(0);
      const summary = JSON.parse(/summary (\{.*\})/.exec(exit.out)![1]!) as {
        steps: number;
        replicasIdentical: boolean;
      };
      expect(summary.replicasIdentical).toBe(true);
      expect(summary.steps).toBe(40); // 2560 / 2 ranks / 64 per batch = 20 per epoch, 2 epochs
    }

    const runs = await app.api.runs();
    expect(runs.map((r) => [r.arm, r.status, r.experimentName])).toEqual([
      ['dense', 'finished', 'ci-ddp'],
      ['gaussiank@0.02', 'finished', 'ci-ddp'],
    ]);
    expect(await app.api.experiments()).toHaveLength(1); // one experiment per name: Compare sees both arms
    const sparse = runs[1]!.id;
    const detail = await app.api.run(sparse);
    expect(detail.armConfig).toMatchObject({ method: 'gaussiank', density: 0.02 });
    expect(detail.totalIterations).toBe(40);
    expect(detail.environment?.external).toMatchObject({ framework: { name: 'torch', backend: 'gloo' } });
    const statuses = events.filter((e) => e.type === 'runStatus' && e.runId === sparse);
    expect(statuses.map((e) => (e as { status: string }).status)).toEqual(['running', 'finished']);
    expect(events.some((e) => e.type === 'progress')).toBe(true);

    const iterations = app.store.iterationSeries(sparse);
    expect(iterations.map((r) => r.iteration)).toEqual([...Array(40).keys()]);
    for (const r of iterations) {
      expect(r.selected).toBeGreaterThan(0);
      // (index, value) pairs, padded to the largest rank's count: more than k early on, where Gaussian_k's
      // normal fit lets many through (paper.md), but under the dense model's 407,080 bytes.
      expect(r.bytesSent).toBeGreaterThanOrEqual(8 * r.selected);
      expect(r.bytesSent).toBeLessThan(407_080);
      expect(r.exchangeMs).toBeGreaterThan(0);
    }
    // Statistics every 20 iterations, as the hook was asked, and with the histogram of the last one.
    const measured = iterations.filter((r) => r.rho !== undefined && r.rho !== null);
    expect(measured.map((r) => r.iteration)).toEqual([0, 20, 39]);
    for (const r of measured) expect(r.rhoTopk!).toBeLessThanOrEqual(r.boundGeneral!);

    // What Compare, Gradients and Cluster read.
    const [series] = await app.api.series([sparse], { columns: ['loss', 'rho', 'bytesSent'] });
    expect(series!.columns.loss).toHaveLength(40);
    const evaluations = app.store.evaluationSeries(sparse);
    expect(evaluations.map((e) => e.iteration)).toEqual([19, 39]);
    expect(evaluations[1]!.accuracy).toBeGreaterThan(0.5);
    expect((await app.api.layerNames(sparse)).sort()).toEqual(['0.bias', '0.weight', '2.bias', '2.weight']);
    expect((await app.api.layerStats(sparse, '0.weight')).map((s) => s.iteration)).toEqual([0, 20, 39]);
    expect(new Set((await app.api.histograms(sparse)).map((h) => h.iteration))).toEqual(new Set([0, 39]));
    // A run that failed outside cannot be resumed on SparseLab's workers, and none are started for it.
    const link = await open(app.hub);
    const parsed = externalRunSpecSchema.parse(spec());
    link.ws.send(
      encodeFrame({ type: 'registerRun', token: app.hub.token, protocolVersion: PROTOCOL_VERSION, spec: parsed }),
    );
    const failedId = ((await link.next()) as { runId: string }).runId;
    link.ws.close();
    await expect.poll(async () => (await app.api.run(failedId)).status).toBe('failed');
    await expect(app.api.resumeRun(failedId)).rejects.toThrow(/outside SparseLab's workers/);
    expect(app.pool.count).toBe(0);
    const comparison = await app.api.compare(runs.map((r) => r.id));
    const row = comparison.find((c) => c.runId === sparse)!;
    expect(row.measured).not.toBeNull();
    expect(row.meanBytesSent).toBeGreaterThan(0);
    expect(Object.values(row.speedups).some((v) => v !== null && v > 0)).toBe(true);
  });

  it('refuses a wrong token, and the script says why', async () => {
    const { hub, store } = await startCore();
    const code = `import sparselab_torch as sl
sl.connect("${hub.url}", "wrong", experiment="e", arm={"method": "topk", "density": 0.1}, model="m", dataset="d", epochs=1, batch_size=1, lr=0.1)`;
    const exit = await runPython(['-c', code], {});
    expect(exit.code).not.toBe(0);
    expect(exit.out).toContain('wrong token');
    expect(store.listRuns()).toEqual([]);
  });

  it('a quiet script stays connected through its heartbeats; one that dies fails its run', async () => {
    const { hub, store } = await startCore({ heartbeatMs: 100, silenceMs: 600 });
    const connect = `import os, sys, time, sparselab_torch as sl
run = sl.connect("${hub.url}", "${hub.token}", experiment="quiet", arm={"method": "topk", "density": 0.1}, model="m", dataset="d", epochs=1, batch_size=1, lr=0.1)
time.sleep(2)  # a long evaluation: no records, three times the hub's silence limit
`;
    const quiet = await runPython(['-c', `${connect}run.log("still here")\nrun.finish()`], {});
    expect(quiet.code, quiet.out).toBe(0);
    const dies = await runPython(['-c', `${connect}os._exit(3)`], {});
    expect(dies.code).toBe(3);
    await new Promise((r) => setTimeout(r, 200));
    const [died, finished] = store.listRuns();
    expect(store.getRun(finished!.id).status).toBe('finished');
    expect(store.logs(finished!.id).map((l) => l.message)).toContain('still here');
    expect(store.getRun(died!.id).status).toBe('failed');
    expect(store.getRun(died!.id).failureReason).toMatch(/the training script's connection ended/);
  });

  it('cancelling the run in SparseLab reaches the script, and the run cannot be resumed on workers', async () => {
    const { hub, store, orchestrator } = await startCore();
    const code = `import time, sparselab_torch as sl
run = sl.connect("${hub.url}", "${hub.token}", experiment="e", arm={"method": "topk", "density": 0.1}, model="m", dataset="d", epochs=1, batch_size=1, lr=0.1)
print("registered", run.id, flush=True)
deadline = time.time() + 30
while not run.cancelled and time.time() < deadline:
    time.sleep(0.05)
print("cancelled:", run.cancelled, flush=True)`;
    const exit = await runPython(['-c', code], {}, (line) => {
      const id = /^registered (\S+)/.exec(line)?.[1];
      if (id) orchestrator.cancel(id, 'stopped from the app');
    });
    expect(exit.out).toContain('cancelled: stopped from the app');
    const [run] = store.listRuns();
    expect(store.getRun(run!.id).status).toBe('cancelled');
    expect(() => orchestrator.resume(run!.id)).toThrow(/outside SparseLab's workers/);
  });
});

describe("the hub's rules for external runs", () => {
  it('refuses a registration whose spec breaks the schema, naming the field', async () => {
    const { hub, store } = await startCore();
    const { ws, next, closed } = await open(hub);
    const bad = { ...spec(), worldSize: 0 };
    ws.send(
      encodeFrame({ type: 'registerRun', token: hub.token, protocolVersion: PROTOCOL_VERSION, spec: bad } as never),
    );
    const reply = await next();
    expect(reply.type).toBe('refused');
    expect((reply as { reason: string }).reason).toMatch(/spec\.worldSize/);
    expect(await closed).toBe(4400);
    expect(store.listRuns()).toEqual([]);
  });

  it('keeps going when the run is deleted while its script still sends, logging what it could not record', async () => {
    const logged: string[] = [];
    const { hub, store } = await startCore({ log: (level, message) => level === 'error' && logged.push(message) });
    const register = async () => {
      const link = await open(hub);
      const parsed = externalRunSpecSchema.parse(spec());
      link.ws.send(
        encodeFrame({ type: 'registerRun', token: hub.token, protocolVersion: PROTOCOL_VERSION, spec: parsed }),
      );
      const reply = await link.next();
      expect(reply.type).toBe('runRegistered');
      return { ...link, runId: (reply as { runId: string }).runId };
    };
    const first = await register();
    store.deleteRun(first.runId);
    const record = { runId: first.runId, iteration: 0, epoch: 0, wallMs: 1, testLoss: 1 };
    first.ws.send(encodeFrame({ type: 'metrics', kind: 'evaluation', records: [record] }));
    first.ws.send(encodeFrame({ type: 'log', level: 'info', message: 'hello' }));
    first.ws.close();
    await first.closed;
    await new Promise((r) => setTimeout(r, 50));
    expect(logged.join('\n')).toMatch(new RegExp(`external run ${first.runId}: could not record evaluation records`));
    expect(logged.join('\n')).toMatch(/could not record a log line/);
    expect(logged.join('\n')).toMatch(/could not record its loss/);
    const second = await register(); // the hub and the store go on
    expect(store.getRun(second.runId).status).toBe('running');
    second.ws.close();
  });

  it("closes a connection that sends another run's records, and the run fails", async () => {
    const { hub, store } = await startCore();
    const { ws, next, closed } = await open(hub);
    const parsed = externalRunSpecSchema.parse(spec());
    ws.send(encodeFrame({ type: 'registerRun', token: hub.token, protocolVersion: PROTOCOL_VERSION, spec: parsed }));
    const reply = await next();
    expect(reply.type).toBe('runRegistered');
    const runId = (reply as { runId: string }).runId;
    expect(hub.workers()).toEqual([]); // never a worker the scheduler could use
    const record = { iteration: 0, epoch: 0, wallMs: 1, testLoss: 1 };
    ws.send(encodeFrame({ type: 'metrics', kind: 'evaluation', records: [{ ...record, runId: 'someone-else' }] }));
    expect(await closed).toBe(4400);
    await new Promise((r) => setTimeout(r, 50));
    const run = store.getRun(runId);
    expect(run.status).toBe('failed');
    expect(run.failureReason).toMatch(/sent records of run someone-else/);
    expect(store.evaluationSeries(runId)).toEqual([]);
  });
});

describe('sparselab import', () => {
  it.runIf(python !== null)('records a run the example wrote to JSON Lines without a core', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sparselab-import-'));
    const file = join(dir, 'run.jsonl');
    const args = [...(await torchrun()), EXAMPLE, '--method', 'topk', '--density', '0.05', '--strategy', 'capacity'];
    args.push('--train-limit', '1280', '--test-limit', '200', '--jsonl', file);
    const exit = await runPython(args, { SPARSELAB_HUB: '' });
    expect(exit.code, exit.out).toBe(0);
    const message = importExternalRun(join(dir, 'data'), file);
    expect(message).toMatch(/as run (\S+) \(mnist-ddp \/ topk@0.05 capacity, finished\)/);
    const store = openStore(join(dir, 'data'));
    try {
      const [run] = store.listRuns();
      expect(store.iterationSeries(run!.id)).toHaveLength(10);
      expect(store.evaluationSeries(run!.id)).toHaveLength(1);
    } finally {
      store.close();
    }
  });

  it('names the line of a bad record, and records nothing', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sparselab-import-'));
    const header = {
      type: 'registerRun',
      format: 'sparselab-external-run',
      version: 1,
      spec: externalRunSpecSchema.parse(spec()),
    };
    const good = {
      type: 'metrics',
      kind: 'evaluation',
      records: [{ runId: 'local', iteration: 0, epoch: 1, wallMs: 1, testLoss: 1 }],
    };
    const bad = {
      type: 'metrics',
      kind: 'evaluation',
      records: [{ runId: 'local', iteration: -1, epoch: 1, wallMs: 1, testLoss: 1 }],
    };
    const file = join(dir, 'bad.jsonl');
    writeFileSync(file, [header, good, bad].map((l) => JSON.stringify(l)).join('\n') + '\n');
    expect(() => importExternalRun(join(dir, 'data'), file)).toThrow(`${file}:3: records.0.iteration`);
    writeFileSync(file, [header, good].map((l) => JSON.stringify(l)).join('\n') + '\n{oops\n');
    expect(() => parseExternalRunFile(readFileSync(file, 'utf8'), file)).toThrow(`${file}:3: not JSON`);
    writeFileSync(file, JSON.stringify(good) + '\n');
    expect(() => parseExternalRunFile(readFileSync(file, 'utf8'), file)).toThrow(`${file}:1: not the first line`);
    const other = { ...good, records: [{ ...good.records[0], runId: 'r-1' }] };
    writeFileSync(file, [header, other].map((l) => JSON.stringify(l)).join('\n') + '\n');
    expect(() => parseExternalRunFile(readFileSync(file, 'utf8'), file)).toThrow(`${file}:2: record of run "r-1"`);
    const hello = {
      type: 'hello',
      token: 't',
      protocolVersion: 2,
      capabilities: { host: 'h', pid: 1, backend: 'cpu', cores: 1 },
    };
    writeFileSync(file, [header, hello].map((l) => JSON.stringify(l)).join('\n') + '\n');
    expect(() => parseExternalRunFile(readFileSync(file, 'utf8'), file)).toThrow(
      `${file}:2: a 'hello' message has no place`,
    );
    const store = openStore(join(dir, 'data'));
    expect(store.listRuns()).toEqual([]);
    store.close();
  });

  it('records a file that ends before the run did as failed, saying so', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sparselab-import-'));
    const file = join(dir, 'cut.jsonl');
    const header = { type: 'registerRun', format: 'sparselab-external-run', version: 1, spec: spec() };
    const evaluation = { runId: 'local', iteration: 3, epoch: 1, wallMs: 1, testLoss: 0.5, accuracy: 0.9 };
    const lines = [header, { type: 'metrics', kind: 'evaluation', records: [evaluation] }];
    writeFileSync(file, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
    expect(importExternalRun(join(dir, 'data'), file)).toMatch(/, failed\): 1 records$/);
    const store = openStore(join(dir, 'data'));
    const [run] = store.listRuns();
    expect(store.getRun(run!.id).failureReason).toBe(
      `${file} ends before the run finished (the script stopped early?)`,
    );
    expect(store.evaluationSeries(run!.id)).toEqual([{ ...evaluation, runId: run!.id }]);
    store.close();
  });
});

function spec() {
  return {
    experiment: 'rules',
    arm: { method: 'topk', density: 0.1 },
    worldSize: 1,
    epochs: 1,
    batchSize: 8,
    lr: 0.1,
    model: 'm',
    dataset: 'd',
    framework: { name: 'test', version: '1', backend: 'none' },
    host: 'h',
    pid: 1,
  };
}
