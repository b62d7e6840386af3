import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import {
  APPLICATION_ID,
  MIGRATIONS,
  InvalidTransitionError,
  SCHEMA_VERSION,
  StoreOpenError,
  UnknownRunError,
  defaultDataDir,
  migrate,
  openStore,
  schemaVersion,
} from '../../main/core/store';
import { cleanUpStores, config, iteration, layerStats, open, setup, tempDir } from './storeFixture';

cleanUpStores();

describe('data folder', () => {
  it('follows SPARSELAB_HOME, then the platform convention', () => {
    expect(defaultDataDir({ SPARSELAB_HOME: '/data/sl' }, 'linux', '/home/a')).toBe('/data/sl');
    expect(defaultDataDir({}, 'linux', '/home/a')).toBe('/home/a/.local/share/sparselab');
    expect(defaultDataDir({ XDG_DATA_HOME: '/xdg' }, 'linux', '/home/a')).toBe('/xdg/sparselab');
    expect(defaultDataDir({ XDG_DATA_HOME: 'relative' }, 'linux', '/home/a')).toBe('/home/a/.local/share/sparselab');
    expect(defaultDataDir({}, 'darwin', '/Users/a')).toBe('/Users/a/Library/Application Support/SparseLab');
    expect(defaultDataDir({ APPDATA: 'C:\\Users\\a\\AppData\\Roaming' }, 'win32', 'C:\\Users\\a')).toBe(
      'C:\\Users\\a\\AppData\\Roaming\\SparseLab',
    );
  });

  it('creates DATA/sparselab.db in WAL mode with foreign keys on', () => {
    const { dir, store } = setup();
    expect(existsSync(join(dir, 'sparselab.db'))).toBe(true);
    expect(store.dbPath).toBe(join(dir, 'sparselab.db'));
    const db = new Database(store.dbPath, { readonly: true });
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    db.close();
    expect(store.schemaVersion()).toBe(SCHEMA_VERSION);
    expect(store.integrityCheck()).toEqual([]);
  });
});

describe('experiments and runs', () => {
  it('records experiments and runs, lists them newest first and filters', () => {
    const { store, clock, experiment, run } = setup();
    expect(experiment).toMatchObject({ name: 'mnist-topk', sourceFile: '/x/mnist.yaml', created: 1000, runCount: 0 });
    expect(experiment.config).toEqual(config);
    clock.t = 2000;
    const more = store.createRuns(experiment.id, { totalIterations: 50 });
    expect(more.map((r) => [r.arm, r.seed])).toEqual([
      ['topk@0.01', 1],
      ['topk@0.01', 2],
      ['dense', 1],
      ['dense', 2],
    ]);
    store.setStatus(more[0]!.id, 'running');
    expect(store.listRuns().map((r) => r.id)).toEqual([...more.map((r) => r.id)].reverse().concat(run.id));
    expect(store.listRuns({ status: 'running' }).map((r) => r.id)).toEqual([more[0]!.id]);
    expect(store.listRuns({ status: ['running', 'queued'], limit: 2 }).length).toBe(2);

    clock.t = 3000;
    const other = store.createExperiment({ ...config, name: 'second' });
    expect(store.listRuns({ experimentId: other.id })).toEqual([]);
    expect(store.listExperiments().map((e) => [e.name, e.runCount, e.statusCounts])).toEqual([
      ['second', 0, {}],
      ['mnist-topk', 5, { queued: 4, running: 1 }],
    ]);

    const detail = store.getRun(run.id);
    expect(detail).toMatchObject({
      id: run.id,
      experimentId: experiment.id,
      experimentName: 'mnist-topk',
      arm: 'topk@0.01',
      armConfig: config.arms[0],
      seed: 1,
      status: 'queued',
      created: 1000,
      started: null,
      ended: null,
      totalIterations: 100,
      environment: null,
      history: [{ from: null, to: 'queued', reason: null, time: 1000 }],
      checkpoints: [],
    });
    // The run's own config reproduces it alone.
    expect(detail.config).toEqual({ ...config, arms: [config.arms[0]], seeds: [1] });
    const env = { versions: { node: '20' }, adapters: ['cpu'], seed: 1, host: 'box' };
    store.setEnvironment(run.id, env);
    expect(store.getRun(run.id).environment).toEqual(env);
  });

  it('moves runs through statuses with a history, and refuses impossible moves', () => {
    const { store, clock, run } = setup();
    clock.t = 2000;
    store.setStatus(run.id, 'running');
    clock.t = 3000;
    store.setStatus(run.id, 'waiting', 'rank 2 went silent');
    clock.t = 4000;
    store.setStatus(run.id, 'running', 'rank 2 replaced');
    expect(store.setStatus(run.id, 'running').status).toBe('running'); // no-op
    clock.t = 5000;
    const failed = store.setStatus(run.id, 'failed', 'NaN in gradient of dense_1/kernel');
    expect(failed).toMatchObject({ started: 2000, ended: 5000, failureReason: 'NaN in gradient of dense_1/kernel' });
    expect(() => store.setStatus(run.id, 'finished')).toThrow(InvalidTransitionError);
    expect(() => store.setStatus(run.id, 'finished')).toThrow(`cannot go from failed to finished`);
    clock.t = 6000;
    const requeued = store.setStatus(run.id, 'queued', 'retry');
    expect(requeued).toMatchObject({ status: 'queued', started: 2000, ended: null, failureReason: null });
    expect(store.getRun(run.id).history).toEqual([
      { from: null, to: 'queued', reason: null, time: 1000 },
      { from: 'queued', to: 'running', reason: null, time: 2000 },
      { from: 'running', to: 'waiting', reason: 'rank 2 went silent', time: 3000 },
      { from: 'waiting', to: 'running', reason: 'rank 2 replaced', time: 4000 },
      { from: 'running', to: 'failed', reason: 'NaN in gradient of dense_1/kernel', time: 5000 },
      { from: 'failed', to: 'queued', reason: 'retry', time: 6000 },
    ]);
  });

  it('marks runs a previous process left running or waiting as interrupted', () => {
    const { dir, store, experiment, run } = setup();
    const [a, b, c] = store.createRuns(experiment.id);
    store.setStatus(run.id, 'running');
    store.setStatus(a!.id, 'running');
    store.setStatus(a!.id, 'waiting');
    store.setStatus(b!.id, 'running');
    store.setStatus(b!.id, 'finished');
    store.append('iteration', iteration(run.id, 0));
    store.close();

    const reopened = openStore(dir, { now: () => 9000 });
    open.push(reopened);
    expect(reopened.getRun(run.id).status).toBe('running'); // opening alone changes nothing
    expect(reopened.markInterrupted().sort()).toEqual([run.id, a!.id].sort());
    expect(reopened.getRun(run.id).status).toBe('interrupted');
    expect(reopened.getRun(a!.id).history.at(-1)).toEqual({
      from: 'waiting',
      to: 'interrupted',
      reason: 'SparseLab stopped while the run was waiting; found at startup',
      time: 9000,
    });
    expect(reopened.getRun(b!.id).status).toBe('finished');
    expect(reopened.getRun(c!.id).status).toBe('queued');
    expect(reopened.markInterrupted()).toEqual([]);
    // close() flushed the record appended before it.
    expect(reopened.iterationSeries(run.id).length).toBe(1);
    // Interrupted runs resume.
    expect(reopened.setStatus(run.id, 'running').status).toBe('running');
  });

  it('names an unknown run id in its error', () => {
    const { store } = setup();
    expect(() => store.getRun('r-nope')).toThrow(UnknownRunError);
    expect(() => store.getRun('r-nope')).toThrow('unknown run "r-nope"');
    expect(() => store.append('iteration', iteration('r-nope', 0))).toThrow('unknown run "r-nope"');
    expect(() => store.iterationSeries('r-nope')).toThrow('unknown run "r-nope"');
    expect(() => store.setStatus('r-nope', 'running')).toThrow('unknown run "r-nope"');
    expect(() => store.getExperiment('e-nope')).toThrow('unknown experiment "e-nope"');
  });
});

describe('checkpoints and deletion', () => {
  it('writes checkpoints atomically, keeps the newest two, and falls back past a damaged one', async () => {
    const errors: Error[] = [];
    const { store, run, dir } = setup({ onError: (e) => errors.push(e) });
    expect(await store.latestCheckpoint(run.id)).toBeNull();
    const bytes = (i: number) => Uint8Array.from({ length: 1000 + i }, (_, j) => (i + j) & 255);
    for (const i of [200, 400, 600]) {
      const info = await store.writeCheckpoint(run.id, i, bytes(i));
      expect(info.path).toBe(join(dir, 'checkpoints', run.id, `${String(i).padStart(10, '0')}.ckpt`));
    }
    expect(store.listCheckpoints(run.id).map((c) => c.iteration)).toEqual([400, 600]);
    expect(readdirSync(store.checkpointDir(run.id)).sort()).toEqual(['0000000400.ckpt', '0000000600.ckpt']);
    expect(await store.latestCheckpoint(run.id)).toEqual({
      iteration: 600,
      bytes: bytes(600),
      path: store.checkpointPath(run.id, 600),
    });
    writeFileSync(store.checkpointPath(run.id, 600), bytes(1)); // damaged behind the store's back
    expect((await store.latestCheckpoint(run.id))?.iteration).toBe(400);
    expect(errors[0]!.message).toMatch(/0000000600\.ckpt of run .* is damaged/);
    expect(store.getRun(run.id).checkpoints.length).toBe(2);
  });

  it('writes a checkpoint given as chunks as their concatenation, with its size and SHA-256', async () => {
    const { store, run } = setup();
    const chunks = [Uint8Array.of(1, 2, 3), new Uint8Array(0), Uint8Array.from({ length: 70_000 }, (_, j) => j & 255)];
    const whole = Buffer.concat(chunks);
    const info = await store.writeCheckpoint(run.id, 10, chunks);
    expect(readFileSync(info.path)).toEqual(whole);
    expect(info.bytes).toBe(whole.byteLength);
    expect(info.sha256).toBe(createHash('sha256').update(whole).digest('hex'));
    expect((await store.latestCheckpoint(run.id))?.bytes).toEqual(new Uint8Array(whole));
  });

  it('deletes a run with its records and checkpoints folder', async () => {
    const { store, run, experiment } = setup();
    store.append('iteration', iteration(run.id, 0));
    store.flush();
    store.append('iteration', iteration(run.id, 1)); // still buffered: dropped with the run
    await store.writeCheckpoint(run.id, 1, new Uint8Array(8));
    const keep = store.createRun({ experimentId: experiment.id, arm: config.arms[1]!, seed: 1 });
    store.deleteRun(run.id);
    expect(existsSync(store.checkpointDir(run.id))).toBe(false);
    expect(() => store.getRun(run.id)).toThrow(`unknown run "${run.id}"`);
    expect(store.flush()).toBe(0);
    expect(store.listRuns().map((r) => r.id)).toEqual([keep.id]);
    const db = new Database(store.dbPath, { readonly: true });
    for (const table of ['iterations', 'status_history', 'checkpoints'])
      expect(db.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get()).toEqual({ n: table === 'status_history' ? 1 : 0 });
    db.close();
    store.deleteExperiment(experiment.id);
    expect(store.listExperiments()).toEqual([]);
    expect(store.integrityCheck()).toEqual([]);
  });
});

describe('opening', () => {
  it('says which file is not a database and what is wrong with it', () => {
    const dir = tempDir();
    const path = join(dir, 'sparselab.db');
    writeFileSync(path, 'name,loss\nrun,1\n');
    expect(() => openStore(dir)).toThrow(StoreOpenError);
    expect(() => openStore(dir)).toThrow(`cannot open the SparseLab database ${path}: it is not an SQLite database`);
  });

  it('reports a damaged database with its path', () => {
    const dir = tempDir();
    const store = openStore(dir);
    store.createExperiment(config);
    store.close();
    const path = join(dir, 'sparselab.db');
    const bytes = readFileSync(path);
    bytes.fill(0x5a, 100); // keep SQLite's header, garble every page
    writeFileSync(path, bytes);
    expect(() => openStore(dir)).toThrow(
      new RegExp(`cannot open the SparseLab database ${path}: .*(damaged|malformed)`),
    );
  });

  it('refuses an SQLite database that is not SparseLab’s, or is from a newer SparseLab, or is a folder', () => {
    const dir = tempDir();
    const db = new Database(join(dir, 'sparselab.db'));
    db.exec('CREATE TABLE songs (title TEXT)');
    db.close();
    expect(() => openStore(dir)).toThrow("it is an SQLite database but not SparseLab's (it holds the tables songs)");

    const newer = tempDir();
    openStore(newer).close();
    const db2 = new Database(join(newer, 'sparselab.db'));
    db2.prepare('INSERT INTO schema_version VALUES (?, ?, ?)').run(SCHEMA_VERSION + 1, 'future', 0);
    db2.close();
    expect(() => openStore(newer)).toThrow(`written by a newer SparseLab (schema version ${SCHEMA_VERSION + 1}`);

    const folder = tempDir();
    mkdirSync(join(folder, 'sparselab.db'));
    expect(() => openStore(folder)).toThrow('it is a folder');
  });

  it('leaves a database as it was when a migration fails', () => {
    const dir = tempDir();
    openStore(dir).close();
    const db = new Database(join(dir, 'sparselab.db'));
    const broken = { version: SCHEMA_VERSION + 1, description: 'broken', up: () => db.exec('CREATE TABLE runs (x)') };
    expect(() => migrate(db, SCHEMA_VERSION + 1, Date.now, [...MIGRATIONS, broken])).toThrow(
      `migration ${SCHEMA_VERSION + 1} (broken) failed: table runs already exists`,
    );
    expect(schemaVersion(db)).toBe(SCHEMA_VERSION);
    expect(db.pragma('application_id', { simple: true })).toBe(APPLICATION_ID);
    db.close();
  });

  it('migrates a version-1 database, keeping its data and a backup', () => {
    const dir = tempDir();
    const db = new Database(join(dir, 'sparselab.db'));
    db.pragma('journal_mode = WAL');
    migrate(db, 1);
    db.prepare("INSERT INTO experiments (id, name, config, created) VALUES ('e-old', 'old', ?, 1)").run(
      JSON.stringify(config),
    );
    db.prepare(
      `INSERT INTO runs (id, experiment_pk, arm_name, arm, seed, status, config, created, iteration)
       VALUES ('r-old', 1, 'dense', '{"method":"dense"}', 1, 'running', ?, 2, 7)`,
    ).run(JSON.stringify(config));
    db.prepare(
      'INSERT INTO iterations (run_pk, rank, iteration, loss, communicate_ms) VALUES (1, 0, 7, 0.5, 3.25)',
    ).run();
    expect(db.prepare('SELECT MAX(version) AS v FROM schema_version').get()).toEqual({ v: 1 });
    db.close();

    const store = openStore(dir);
    open.push(store);
    expect(store.schemaVersion()).toBe(SCHEMA_VERSION);
    expect(store.getRun('r-old')).toMatchObject({ status: 'running', iteration: 7, totalIterations: null });
    // Version 6 renamed communicate_ms to exchange_ms, keeping the values.
    expect(store.iterationSeries('r-old', { columns: ['loss', 'exchangeMs'] })).toEqual([
      { iteration: 7, rank: 0, loss: 0.5, exchangeMs: 3.25 },
    ]);
    store.append('layerStats', layerStats('r-old', 7, 'l', 1));
    store.flush();
    expect(store.layerNames('r-old')).toEqual(['l']);
    expect(readdirSync(dir).filter((f) => /^sparselab\.db\.v1-\d+-\d+\.bak$/.test(f)).length).toBe(1);
    expect(store.integrityCheck()).toEqual([]);
  });
});
