/**
 * One process owns a data folder: a second `run` or `resume` (or app) on it is refused, naming the owner,
 * and never touches the owner's runs; a lock left by a process that is gone is taken over.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { experimentSchema } from '../../common/experiment';
import { AppCore } from '../../main/core/app';
import { runLocally } from '../../main/core/cli/run';
import { resumeRun } from '../../main/core/cli/runs';
import { openStore } from '../../main/core/store';
import { claimDataFolder, DataFolderBusyError, LOCK_FILE, releaseDataFolder } from '../../main/core/store/owner';
import { connectToHub } from '../../gpu/worker/hubClient';
import type { CancelMessage } from '../../common/protocol';
import { capabilities, until } from '../scriptedWorker';
import { syntheticExperiment } from '../experimentFixture';

const experiment = experimentSchema.parse(
  syntheticExperiment({ name: 'owner-test', dataset: { name: 'synthetic', testLimit: 100 }, workers: 1 }),
);

const cores: AppCore[] = [];
afterEach(async () => {
  for (const core of cores.splice(0)) await core.close();
});

describe('the data folder has one owner', () => {
  it('refuses run and resume while the app trains there, naming its pid and address; its runs go on and cancel reaches its workers', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'sparselab-owner-'));
    const core = await AppCore.start({
      mode: 'browser',
      dataDir,
      localWorkers: 0,
      workerBackend: 'cpu',
      log: () => {},
    });
    cores.push(core);
    const info = await core.info();
    const worker = await connectToHub(info.hub.url, info.hub.token, capabilities('scripted'));
    const cancels: CancelMessage[] = [];
    worker.onCancel((c) => cancels.push(c));
    const assigned = new Promise<void>((resolve) => worker.onAssign(() => resolve()));
    const [run] = await core.api.launch(experiment);
    await assigned;
    expect((await core.api.run(run!.id)).status).toBe('running');

    const owner = new RegExp(
      `data folder .* is in use by another SparseLab \\(serve, pid ${process.pid} on ${hostname()}, hub ws://127\\.0\\.0\\.1:${info.hub.port}/, since .*\\)`,
    );
    await expect(runLocally(experiment, { dataDir, backend: 'cpu', progress: false })).rejects.toThrow(owner);
    await expect(resumeRun(dataDir, run!.id, 'cpu')).rejects.toThrow(owner);
    await expect(
      AppCore.start({ mode: 'browser', dataDir, localWorkers: 0, workerBackend: 'cpu', log: () => {} }),
    ).rejects.toThrow(owner);
    // The owner's run is still its own: running, and a cancel reaches the worker training it.
    expect((await core.api.run(run!.id)).status).toBe('running');
    await core.api.cancelRun(run!.id);
    await until(() => cancels.length === 1, 5000, 'the cancel to reach the worker');
    expect(cancels[0]!.runId).toBe(run!.id);
    await worker.close();
  });

  it("is held by an owner's store from its opening to its closing, and by no other store", () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'sparselab-owner-'));
    const store = openStore(dataDir, { owner: 'run' });
    expect(() => claimDataFolder(dataDir, 'resume')).toThrow(DataFolderBusyError);
    // A store that only reads (a CLI listing, the report after a resume) leaves the lock alone.
    openStore(dataDir).close();
    expect(() => claimDataFolder(dataDir, 'resume')).toThrow(DataFolderBusyError);
    store.close();
    claimDataFolder(dataDir, 'resume');
    releaseDataFolder(dataDir);
  });

  it('is free again once the owner closes, and takes over a lock whose process is gone', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'sparselab-owner-'));
    claimDataFolder(dataDir, 'run');
    expect(() => claimDataFolder(dataDir, 'resume')).toThrow(DataFolderBusyError);
    releaseDataFolder(dataDir);
    claimDataFolder(dataDir, 'run');
    releaseDataFolder(dataDir);

    const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    const lock = join(dataDir, LOCK_FILE);
    writeFileSync(
      lock,
      JSON.stringify({ pid: Number(gone.stdout), host: hostname(), role: 'run', address: null, since: 0 }),
    );
    claimDataFolder(dataDir, 'serve');
    expect(JSON.parse(readFileSync(lock, 'utf8'))).toMatchObject({ pid: process.pid, role: 'serve' });
    releaseDataFolder(dataDir);
  });
});
