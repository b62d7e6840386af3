/**
 * Local workers on a multi-GPU machine (common/gpus.ts, gpu/worker/gpus, the pool and the launch),
 * against a fake `webgpu` module with four adapters, two of them identical (fakes/fakeWebgpu.ts).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { experimentSchema } from '../../common/experiment';
import { syntheticExperiment } from '../experimentFixture';
import { chooseGpus, gpuForSlot, parseGpuList, placementProblem, type GpuInfo } from '../../common/gpus';
import { GPU_ENV, gpuSelection, openSelectedGpu } from '../../gpu/worker/gpus/dawn';
import { discoverGpus, type DiscoverySources } from '../../gpu/worker/gpus/discovery';
import { resolveGpuSelection } from '../../gpu/worker/gpus/select';
import { describeWorkerAdapter } from '../../gpu/worker/models/backend';
import { connectToHub, type HubClient } from '../../gpu/worker/hubClient';
import { AppCore } from '../../main/core/app';
import { WorkerPool } from '../../main/core/app/workerPool';
import { startHub } from '../../main/core/hub';
import { LocalWorkers } from '../../main/core/runtime/localWorkers';
import { localPlacement } from '../../main/core/runtime/gpus';
import { Orchestrator } from '../../main/core/runtime/orchestrator';
import { workerLaunch, type WorkerProcess, type WorkerProcessOptions } from '../../main/core/runtime/workerProcess';
import { openStore } from '../../main/core/store';
import { fakeDawn, fakePci, FOUR_ADAPTERS, type FakeDawn } from './fakes/fakeWebgpu';

const SELECTION_VARS = ['DRI_PRIME', 'MESA_VK_DEVICE_SELECT_FORCE_DEFAULT_DEVICE', GPU_ENV] as const;
let savedEnv: Record<string, string | undefined>;
beforeEach(() => {
  savedEnv = Object.fromEntries(SELECTION_VARS.map((name) => [name, process.env[name]]));
  for (const name of SELECTION_VARS) delete process.env[name];
});
afterEach(() => {
  for (const [name, value] of Object.entries(savedEnv)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
});

function sources(dawn: FakeDawn, deviceSelectLayer: boolean): DiscoverySources {
  return { dawn, platform: 'linux', pciGpus: () => fakePci(FOUR_ADAPTERS), deviceSelectLayer: () => deviceSelectLayer };
}

const withLayer = () => discoverGpus(sources(fakeDawn(FOUR_ADAPTERS, { deviceSelectLayer: true }), true));
const withoutLayer = () => discoverGpus(sources(fakeDawn(FOUR_ADAPTERS, { deviceSelectLayer: false }), false));

describe('discovery', () => {
  it("with Mesa's device-select layer: each PCI GPU alone, by bus address, identical ones included", async () => {
    const gpus = await withLayer();
    expect(gpus.map((g) => [g.index, g.name, g.id, g.selectableBy, g.software])).toEqual([
      [0, 'NVIDIA A100-SXM4-80GB', 'pci:0000:17:00.0', 'pci', false],
      [1, 'NVIDIA A100-SXM4-80GB', 'pci:0000:65:00.0', 'pci', false],
      [2, 'NVIDIA RTX A4000', 'pci:0000:b3:00.0', 'pci', false],
      [3, 'SwiftShader Device (Subzero)', 'vulkan:SwiftShader Device (Subzero)#0', 'name', true],
    ]);
    expect(gpus[0]).toMatchObject({ vendor: 'nvidia', backend: 'vulkan', driver: 'NVIDIA: 550.54', memoryBytes: 80e9 });
    expect(gpus[3]).toMatchObject({ vendor: 'google', driver: 'SwiftShader driver 5.0.0', pciBusId: null });
  });

  it("without it: Dawn's order, and the second of two identical GPUs cannot be selected", async () => {
    const gpus = await withoutLayer();
    expect(gpus.map((g) => [g.index, g.id, g.selectableBy, g.pciBusId])).toEqual([
      [0, 'vulkan:NVIDIA A100-SXM4-80GB#0', 'name', null],
      [1, 'vulkan:NVIDIA A100-SXM4-80GB#1', null, null],
      [2, 'vulkan:NVIDIA RTX A4000#0', 'name', null],
      [3, 'vulkan:SwiftShader Device (Subzero)#0', 'name', null],
    ]);
    expect(() => gpuSelection(gpus[1]!)).toThrow(/GPU 1 .*same name.*device-select layer/);
  });

  it("a server's BMC display is no GPU, and a layer that does not single GPUs out falls back to names", async () => {
    const bmc = { busId: '0000:02:00.0', vendorId: 0x1a03, deviceId: 0x2000, driver: 'ast', memoryBytes: null };
    const withBmc = await discoverGpus({
      ...sources(fakeDawn(FOUR_ADAPTERS, { deviceSelectLayer: true }), true),
      pciGpus: () => [bmc, ...fakePci(FOUR_ADAPTERS)],
    });
    expect(withBmc.map((g) => g.id)).toEqual((await withLayer()).map((g) => g.id));
    // The layer's file is there but it changes nothing (another loader, NODEVICE_SELECT in Dawn's env...).
    const ignored = await discoverGpus(sources(fakeDawn(FOUR_ADAPTERS, { deviceSelectLayer: false }), true));
    expect(ignored).toEqual(await withoutLayer());
  });

  it('without it, a bus address is still given where it cannot be wrong: the only GPU of its vendor', async () => {
    const one = [FOUR_ADAPTERS[2]!, FOUR_ADAPTERS[3]!];
    const gpus = await discoverGpus({
      dawn: fakeDawn(one, { deviceSelectLayer: false }),
      platform: 'linux',
      pciGpus: () => fakePci(one),
      deviceSelectLayer: () => false,
    });
    expect(gpus.map((g) => [g.id, g.pciBusId, g.selectableBy])).toEqual([
      ['pci:0000:b3:00.0', '0000:b3:00.0', 'name'],
      ['vulkan:SwiftShader Device (Subzero)#0', null, 'name'],
    ]);
  });
});

describe('selection inside the worker', () => {
  it('the variables and flags of each GPU reach Dawn, and Dawn opens that physical GPU', async () => {
    const gpus = await withLayer();
    for (const gpu of gpus) {
      const dawn = fakeDawn(FOUR_ADAPTERS, { deviceSelectLayer: true });
      const { adapter } = await openSelectedGpu(dawn, gpuSelection(gpu));
      expect((adapter as unknown as { fakePciBusId: string | null }).fakePciBusId).toBe(gpu.pciBusId);
      const created = dawn.creates.at(-1)!;
      expect(created.flags).toEqual(['backend=vulkan', `adapter=${gpu.name}`]);
      expect(created.env).toEqual(
        gpu.pciBusId
          ? { DRI_PRIME: `pci-${gpu.pciBusId.replace(/[:.]/g, '_')}!`, MESA_VK_DEVICE_SELECT_FORCE_DEFAULT_DEVICE: '1' }
          : { DRI_PRIME: undefined, MESA_VK_DEVICE_SELECT_FORCE_DEFAULT_DEVICE: undefined },
      );
      for (const name of SELECTION_VARS) delete process.env[name];
    }
  });

  it('by name alone, Dawn opens the first of two identical GPUs: the one numbered first', async () => {
    const gpus = await withoutLayer();
    const dawn = fakeDawn(FOUR_ADAPTERS, { deviceSelectLayer: false });
    const { adapter } = await openSelectedGpu(dawn, gpuSelection(gpus[0]!));
    expect((adapter as unknown as { fakePciBusId: string }).fakePciBusId).toBe(FOUR_ADAPTERS[0]!.pciBusId);
  });

  it('a local worker takes its GPU from the core; by hand it discovers them; a GPU that does not exist lists those found', async () => {
    const gpus = await withLayer();
    const noDiscovery = async (): Promise<GpuInfo[]> => {
      throw new Error('must not discover');
    };
    const given = await resolveGpuSelection(1, { [GPU_ENV]: JSON.stringify(gpus[1]) }, noDiscovery);
    expect(given.gpu).toEqual(gpus[1]);
    await expect(resolveGpuSelection(2, { [GPU_ENV]: JSON.stringify(gpus[1]) }, noDiscovery)).rejects.toThrow(
      'names GPU 1 but --gpu says 2',
    );
    await expect(resolveGpuSelection(0, { [GPU_ENV]: '{"index":0}' }, noDiscovery)).rejects.toThrow(
      /does not describe a GPU/,
    );
    expect((await resolveGpuSelection(2, {}, async () => gpus)).gpu.id).toBe('pci:0000:b3:00.0');
    const missing = resolveGpuSelection(7, {}, async () => gpus);
    await expect(missing).rejects.toThrow(
      /there is no GPU 7 on this machine; the GPUs found:\n {2}0: NVIDIA A100-SXM4-80GB/,
    );
    await expect(missing).rejects.toThrow(/3: SwiftShader Device \(Subzero\)/);
  });

  it('the adapter a worker reports names its GPU: number, stable id and bus address', async () => {
    const gpus = await withLayer();
    const selection = gpuSelection(gpus[1]!);
    const { adapter } = await openSelectedGpu(fakeDawn(FOUR_ADAPTERS, { deviceSelectLayer: true }), selection);
    expect(describeWorkerAdapter(adapter, selection)).toEqual({
      name: 'NVIDIA A100-SXM4-80GB',
      vendor: 'nvidia',
      architecture: '',
      description: 'NVIDIA: 550.54',
      software: false,
      backend: 'vulkan',
      index: 1,
      id: 'pci:0000:65:00.0',
      pciBusId: '0000:65:00.0',
    });
  });
});

/** A pool's start() that records each worker's options and runs an idle process in its place. */
function idleWorkers() {
  const started: WorkerProcessOptions[] = [];
  const start = (options: WorkerProcessOptions): WorkerProcess => {
    started.push(options);
    const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    return { child, lastLine: () => null };
  };
  return { started, start };
}

const pools: WorkerPool[] = [];
afterEach(async () => {
  for (const pool of pools.splice(0)) await pool.close();
});

describe('placement', () => {
  it('slot s gets GPU s mod G: its --gpu argument and the variables that select it, the token never on the command line', async () => {
    const used = chooseGpus(await withLayer(), null);
    expect(used.map((g) => g.index)).toEqual([0, 1, 2]); // hardware only
    const { started, start } = idleWorkers();
    const pool = new WorkerPool({ hubUrl: 'ws://127.0.0.1:1', token: 'secret', backend: 'webgpu', gpus: used, start });
    pools.push(pool);
    pool.resize(4);
    expect(started.map((o) => o.gpu?.index)).toEqual([0, 1, 2, 0]);
    for (const options of started) {
      const launch = workerLaunch(options);
      const gpu = options.gpu!;
      expect(launch.args.slice(1)).toEqual([
        'worker',
        '--hub',
        'ws://127.0.0.1:1',
        '--backend',
        'webgpu',
        '--gpu',
        String(gpu.index),
      ]);
      expect(launch.args.join(' ')).not.toContain('secret');
      expect(launch.env).toEqual({
        SPARSELAB_TOKEN: 'secret',
        DRI_PRIME: `pci-${gpu.pciBusId!.replace(/[:.]/g, '_')}!`,
        MESA_VK_DEVICE_SELECT_FORCE_DEFAULT_DEVICE: '1',
        [GPU_ENV]: JSON.stringify(gpu),
      });
    }
    // A worker with no GPU gets neither.
    const cpu = workerLaunch({ hubUrl: 'ws://h', token: 't', backend: 'cpu' });
    expect(cpu.args).not.toContain('--gpu');
    expect(cpu.env).toEqual({ SPARSELAB_TOKEN: 't' });
  });

  it('a worker that crashes is started again in its slot, on the same GPU; a shrunk pool regrows the same slots', async () => {
    const used = chooseGpus(await withLayer(), null);
    const { started, start } = idleWorkers();
    const exits: number[] = [];
    const pool = new WorkerPool({
      hubUrl: 'ws://127.0.0.1:1',
      token: 't',
      backend: 'webgpu',
      gpus: used,
      start,
      onExit: (slot) => exits.push(slot),
    });
    pools.push(pool);
    pool.resize(4);
    const before = pool.placements();
    expect(before.map((p) => [p.slot, p.gpu?.id])).toEqual([
      [0, 'pci:0000:17:00.0'],
      [1, 'pci:0000:65:00.0'],
      [2, 'pci:0000:b3:00.0'],
      [3, 'pci:0000:17:00.0'],
    ]);
    process.kill(before[1]!.pid, 'SIGKILL');
    const deadline = Date.now() + 10_000;
    while (started.length < 5 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(exits).toEqual([1]);
    expect(started[4]!.gpu?.id).toBe('pci:0000:65:00.0');
    const after = pool.placements();
    expect(after.map((p) => [p.slot, p.gpu?.id])).toEqual(before.map((p) => [p.slot, p.gpu?.id]));
    expect(after[1]!.pid).not.toBe(before[1]!.pid);
    pool.resize(2);
    expect(pool.placements().map((p) => p.slot)).toEqual([0, 1]);
    pool.resize(4);
    expect(started.slice(5).map((o) => o.gpu?.index)).toEqual([2, 0]);
  });

  it('the CLI pool respawns a worker on its own GPU', async () => {
    const used = chooseGpus(await withLayer(), [2, 0]);
    const { started, start } = idleWorkers();
    const workers = new LocalWorkers({ hubUrl: 'ws://h', token: 't', count: 3, backend: 'webgpu', gpus: used, start });
    try {
      workers.kill(1);
      workers.respawn(1);
      expect(started.map((o) => o.gpu?.index)).toEqual([2, 0, 2, 0]);
    } finally {
      workers.stop();
    }
  });

  it('more ranks than GPUs is said before launch and allowed only when the experiment shares GPUs', async () => {
    const gpus = await withLayer();
    const used = chooseGpus(gpus, [0, 2]);
    expect(placementProblem(2, used, false)).toBeNull();
    expect(placementProblem(3, used, false)).toBe(
      '3 workers but 2 GPUs (0: NVIDIA A100-SXM4-80GB, 2: NVIDIA RTX A4000): ranks would share GPUs. ' +
        'Set shareGpus: true in the experiment to allow it, use fewer workers, or --backend cpu',
    );
    expect(placementProblem(3, used, true)).toBeNull();
    expect(placementProblem(8, [gpus[3]!], false)).toBeNull(); // a software adapter is the CPU
    expect(gpuForSlot(5, used)?.index).toBe(2);
    expect(parseGpuList('0, 2')).toEqual([0, 2]);
    expect(() => parseGpuList('0,x')).toThrow('"x" is not a GPU number');
    expect(() => parseGpuList('1,1')).toThrow('names a GPU twice');
    // The CLI's and app's choice: 'auto' leaves software adapters out, 'cpu' uses no GPU.
    const discover = async () => gpus;
    expect((await localPlacement('auto', null, discover)).used.map((g) => g.index)).toEqual([0, 1, 2]);
    expect((await localPlacement('cpu', null, discover)).used).toEqual([]);
    await expect(localPlacement('cpu', [0], discover)).rejects.toThrow('--gpus needs the webgpu or auto backend');
    await expect(localPlacement('webgpu', [4], discover)).rejects.toThrow(/there is no GPU 4.*\n {2}0: /);
  });

  it('the app refuses a launch of more ranks than its GPUs before anything starts, and lists its GPUs', async () => {
    const gpus = await withLayer();
    const core = await AppCore.start({
      mode: 'browser',
      dataDir: mkdtempSync(join(tmpdir(), 'sparselab-gpus-')),
      localWorkers: 0,
      workerBackend: 'webgpu',
      localGpus: [0, 1],
      discoverGpus: async () => gpus,
      log: () => {},
    });
    try {
      const experiment = syntheticExperiment({
        name: 'four ranks',
        dataset: { name: 'synthetic', trainLimit: 1000, testLimit: 200 },
        workers: 4,
        backend: 'webgpu',
      });
      await expect(core.dispatch('launch', [experiment])).rejects.toThrow(/^4 workers but 2 GPUs/);
      expect(await core.runs()).toEqual([]);
      const info = await core.info();
      // The command that adds a worker runs the installed CLI with Node: `npx sparselab` in the
      // package ran its prepare script, rebuilding the app being served.
      expect(info.hub.workerCommand).toBe(
        `${process.execPath} ${join(process.cwd(), 'bin', 'sparselab.js')} worker --hub ${info.hub.url} --token ${info.hub.token}`,
      );
      expect(info.localWorkers.gpus).toHaveLength(4);
      expect(info.localWorkers.placementGpus).toEqual([0, 1]);
      await expect(core.dispatch('setLocalGpus', [[9]])).rejects.toThrow(/there is no GPU 9/);
      await core.dispatch('setLocalGpus', [[2]]);
      expect((await core.info()).localWorkers.placementGpus).toEqual([2]);
    } finally {
      await core.close();
    }
  });
});

describe('recorded per rank', () => {
  it("a run's environment holds each rank's adapter, in rank order", async () => {
    const gpus = await withLayer();
    const store = openStore(mkdtempSync(join(tmpdir(), 'sparselab-gpus-')));
    const hub = await startHub({ log: () => {} });
    const orchestrator = new Orchestrator(store, hub);
    const clients: HubClient[] = [];
    try {
      for (const gpu of [gpus[1]!, gpus[0]!]) {
        const selection = gpuSelection(gpu);
        const { adapter } = await openSelectedGpu(fakeDawn(FOUR_ADAPTERS, { deviceSelectLayer: true }), selection);
        const capabilities = {
          host: 'box',
          pid: 1000 + gpu.index,
          backend: 'webgpu' as const,
          adapter: describeWorkerAdapter(adapter, selection),
          cores: 4,
        };
        clients.push(await connectToHub(hub.url, hub.token, capabilities));
      }
      const assigned = new Promise<void>((resolve) => clients[1]!.onAssign(() => resolve()));
      const [run] = orchestrator.submit(
        experimentSchema.parse(syntheticExperiment({ name: 'recorded', backend: 'webgpu' })),
      );
      await assigned;
      const group = hub.group(run!.id)!;
      const adapters = store.getRun(run!.id).environment!.adapters as { id: string }[];
      const expected = group.workerIds.map((id) => hub.worker(id)!.capabilities.adapter!.id);
      expect(adapters.map((a) => a.id)).toEqual(expected);
      expect(new Set(expected)).toEqual(new Set(['pci:0000:65:00.0', 'pci:0000:17:00.0']));
    } finally {
      orchestrator.close();
      for (const client of clients) client.close();
      await hub.close();
      store.close();
    }
  });
});
