import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { describeGpus, parseGpuList } from '../../../common/gpus';
import { SPARSIFIER_METHODS, type SparsifierMethod } from '../../../common/sparsifier';
import { BACKENDS } from '../../../gpu/engine';
import { ENGINES, type EngineName } from '../../../common/experiment';
import type { BackendName } from '../../../gpu/kernels/kernels';
import { formatBench } from '../bench/report';
import { benchTraining } from '../bench/training';

import { SPARSE_METHODS, type SparseMethod } from '../../../common/bench';
import { runBench } from '../bench/run';
import { importExternalRun } from './import';
import { runExperimentFile } from './run';
import { exportRun, listRuns, listWorkers, resumeRun, showRun } from './runs';
import { formatSparsifyReport, SPARSIFY_ENGINES, sparsify, type SparsifyEngine } from './sparsify';

function positiveNumber(text: string): number {
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0)
    throw new InvalidArgumentError(`expected a positive number, got "${text}"`);
  return value;
}

function nonNegativeInteger(text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 0)
    throw new InvalidArgumentError(`expected a non-negative integer, got "${text}"`);
  return value;
}

/** "1M,25M,4096" -> [1e6, 25e6, 4096]. */
function sizeList(text: string): number[] {
  return text.split(',').map((part) => {
    const match = /^(\d+(?:\.\d+)?)([kKmM]?)$/.exec(part.trim());
    if (!match) throw new InvalidArgumentError(`"${part}" is not a size like 4096, 64k or 25M`);
    const scale = { '': 1, k: 1e3, K: 1e3, m: 1e6, M: 1e6 }[match[2]!]!;
    return Math.round(Number(match[1]) * scale);
  });
}

/** "0,2" -> [0, 2] (GPU numbers from `sparselab gpus`). */
function gpuList(text: string): number[] {
  try {
    return parseGpuList(text);
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
}

function list<T extends string>(allowed: readonly T[]) {
  return (text: string): T[] =>
    text.split(',').map((item) => {
      if (!allowed.includes(item as T)) throw new InvalidArgumentError(`"${item}" is not one of ${allowed.join(', ')}`);
      return item as T;
    });
}

export function buildProgram(): Command {
  const program = new Command('sparselab')
    .description('Gradient sparsification experiments: TopK, GaussianK, DGC, Trimmed, RandK and Dense SGD')
    .showHelpAfterError();

  program
    .command('sparsify')
    .description(
      'sparsify a gradient dump (.npy float32 of any shape, or raw little-endian .f32) and report its statistics',
    )
    .argument('<file>', 'gradient dump')
    .addOption(new Option('-m, --method <name>', 'sparsifier').choices(SPARSIFIER_METHODS).makeOptionMandatory())
    .option('-d, --density <rho>', 'fraction of coordinates kept, k = max(1, floor(rho * d))', positiveNumber)
    .option('-k, --k <k>', 'number of coordinates kept, instead of --density', nonNegativeInteger)
    .addOption(new Option('-b, --backend <name>', 'compute backend').choices(BACKENDS).default('cpu'))
    .option('-s, --seed <seed>', 'seed of Rand_k and DGC sampling', nonNegativeInteger, 0)
    .option('--bins <n>', 'histogram bins', nonNegativeInteger, 41)
    .option('-o, --out <prefix>', 'write PREFIX.indices.npy (ascending) and PREFIX.values.npy')
    .option('--json', 'print JSON instead of a table', false)
    .addOption(
      new Option(
        '--engine <name>',
        "operators: SparseLab's kernels, or sparselab_torch (gpu/torch) in a Python with torch",
      )
        .choices(SPARSIFY_ENGINES)
        .default('native'),
    )
    .option('--python <path>', "the torch engine's Python (default: $SPARSELAB_PYTHON, else a python3 with torch)")
    .action(
      async (
        file: string,
        opts: {
          method: SparsifierMethod;
          density?: number;
          k?: number;
          backend: BackendName;
          seed: number;
          bins: number;
          out?: string;
          json: boolean;
          engine: SparsifyEngine;
          python?: string;
        },
      ) => {
        if (opts.method !== 'dense' && (opts.density === undefined) === (opts.k === undefined)) {
          program.error('sparsify: give exactly one of --density or --k');
        }
        const report = await sparsify(file, opts);
        console.log(opts.json ? JSON.stringify(report, null, 2) : formatSparsifyReport(report));
      },
    );

  program
    .command('bench')
    .description('time every operator on each backend against torch.topk, numpy.argpartition, tf.topk and a read pass')
    .option('--sizes <list>', 'vector sizes', sizeList, sizeList('1M,4M,16M,25M,64M'))
    .option('--densities <list>', 'densities', (t: string) => t.split(',').map(positiveNumber), [0.001, 0.01])
    .option('--backends <list>', 'backends (default: cpu, and webgpu where a hardware adapter exists)', list(BACKENDS))
    .option('--methods <list>', 'operators', list(SPARSE_METHODS), [...SPARSE_METHODS] as SparseMethod[])
    .option('--repeats <n>', 'timed repetitions per case (median reported)', nonNegativeInteger, 5)
    .option('--no-peers', 'skip torch, numpy and tfjs')
    .option(
      '--tfjs-max-size <d>',
      'largest d for tf.topk, which is slow and memory-hungry',
      (t: string) => sizeList(t)[0]!,
      4_000_000,
    )
    .option(
      '--training <file>',
      'experiment whose iteration-time breakdown the bench measures',
      'resources/experiments/mnist-fnn-topk-vs-gaussiank.yaml',
    )
    .option(
      '--training-epochs <n>',
      "epochs of that experiment to train (default: the experiment's own, warm-up and steady state alike)",
      positiveNumber,
    )
    .option('--no-training', 'skip the training measurement')
    .option('-o, --out <file>', 'JSON results file', 'bench/results/latest.json')
    .option('--json', 'print JSON instead of tables', false)
    .action(
      async (opts: {
        sizes: number[];
        densities: number[];
        backends?: BackendName[];
        methods: SparseMethod[];
        repeats: number;
        peers: boolean;
        tfjsMaxSize: number;
        training: string | false;
        trainingEpochs?: number;
        out: string;
        json: boolean;
      }) => {
        const onProgress = opts.json ? undefined : (line: string) => process.stderr.write(`${line}\n`);
        const results = await runBench({
          ...opts,
          backends: opts.backends ?? [...BACKENDS],
          skipSoftwareAdapters: opts.backends === undefined,
          repeats: Math.max(1, opts.repeats),
          onProgress,
        });
        if (opts.training) {
          onProgress?.(`training ${opts.training}${opts.trainingEpochs ? ` for ${opts.trainingEpochs} epochs` : ''}`);
          results.training = await benchTraining(opts.training, opts.trainingEpochs);
        }
        mkdirSync(dirname(opts.out), { recursive: true });
        writeFileSync(opts.out, JSON.stringify(results, null, 2) + '\n');
        console.log(opts.json ? JSON.stringify(results, null, 2) : `${formatBench(results)}\n\nwrote ${opts.out}`);
      },
    );

  const dataDir = new Option('--data-dir <dir>', 'data folder (default: $SPARSELAB_HOME or the per-user data folder)');
  const modelBackend = new Option('--backend <name>', 'where workers run their models')
    .choices(['auto', 'cpu', 'webgpu'])
    .default('auto');

  program
    .command('run')
    .description('run every arm x seed of an experiment file on local workers, then print the comparison')
    .argument('<file>', 'experiment file (YAML or JSON)')
    .option(
      '--set <key=value>',
      'override a field, e.g. --set epochs=2 --set arms.1.density=0.01',
      (v: string, all: string[]) => [...all, v],
      [],
    )
    .option('-w, --workers <n>', 'data-parallel workers per run (overrides the file)', positiveNumber)
    .addOption(dataDir)
    .addOption(
      new Option('--backend <name>', "where workers run their models (default: the experiment's)").choices([
        'auto',
        'cpu',
        'webgpu',
      ]),
    )
    .addOption(
      new Option(
        '--engine <name>',
        "who trains the runs: SparseLab's workers (native) or torch.distributed under torchrun (torch); default: the experiment's",
      ).choices(ENGINES),
    )
    .option(
      '--python <path>',
      "the torch engine's Python (default: the experiment's, $SPARSELAB_PYTHON, a python3 with torch)",
    )
    .option(
      '--gpus <list>',
      'place the workers on these GPUs, e.g. 0,2 (default: every GPU; see sparselab gpus)',
      gpuList,
    )
    .option('--json', 'print the comparison as JSON', false)
    .action(
      async (
        file: string,
        opts: {
          set: string[];
          workers?: number;
          dataDir?: string;
          backend?: 'auto' | 'cpu' | 'webgpu';
          engine?: EngineName;
          python?: string;
          gpus?: number[];
          json: boolean;
        },
      ) => {
        process.exitCode = await runExperimentFile(file, opts);
      },
    );

  program
    .command('runs')
    .description('list runs, newest first')
    .addOption(dataDir)
    .option('--json', 'print JSON', false)
    .action((opts: { dataDir?: string; json: boolean }) => console.log(listRuns(opts.dataDir, opts.json)));

  program
    .command('show')
    .description("a run's summary, status history, config and environment")
    .argument('<run>', 'run id')
    .addOption(dataDir)
    .option('--json', 'print JSON', false)
    .action((run: string, opts: { dataDir?: string; json: boolean }) =>
      console.log(showRun(opts.dataDir, run, opts.json)),
    );

  program
    .command('export')
    .description("a run's records as CSV (one table) or JSON (everything)")
    .argument('<run>', 'run id')
    .addOption(new Option('--format <format>', 'output format').choices(['csv', 'json']).default('csv'))
    .addOption(
      new Option('--table <table>', 'CSV table')
        .choices(['iterations', 'evaluations', 'layerStats'])
        .default('iterations'),
    )
    .option('-o, --out <file>', 'write to a file instead of stdout')
    .addOption(dataDir)
    .action(
      (
        run: string,
        opts: {
          format: 'csv' | 'json';
          table: 'iterations' | 'evaluations' | 'layerStats';
          out?: string;
          dataDir?: string;
        },
      ) => console.log(exportRun(opts.dataDir, run, opts.format, opts.table, opts.out)),
    );

  program
    .command('resume')
    .description('resume an interrupted, failed or cancelled run from its last checkpoint')
    .argument('<run>', 'run id')
    .addOption(dataDir)
    .addOption(modelBackend)
    .action(async (run: string, opts: { dataDir?: string; backend: 'auto' | 'cpu' | 'webgpu' }) =>
      console.log(await resumeRun(opts.dataDir, run, opts.backend)),
    );

  program
    .command('import')
    .description('record an external run (sparselab_torch) that its script wrote to a JSON Lines file')
    .argument('<file>', 'the file the script wrote')
    .addOption(dataDir)
    .action((file: string, opts: { dataDir?: string }) => console.log(importExternalRun(opts.dataDir, file)));

  program
    .command('workers')
    .description('workers that have joined this data folder’s hub, with their adapters, and the GPUs of this machine')
    .addOption(dataDir)
    .option('--json', 'print JSON: { gpus, workers }', false)
    .action(async (opts: { dataDir?: string; json: boolean }) =>
      console.log(await listWorkers(opts.dataDir, opts.json)),
    );

  program
    .command('gpus')
    .description('the GPUs of this machine as workers see them: number, name, backend, driver, memory, stable id')
    .option('--json', 'print JSON', false)
    .action(async (opts: { json: boolean }) => {
      const { loadDawn } = await import('../../../gpu/webgpuDevice/device');
      const { discoverGpus, systemSources } = await import('../../../gpu/worker/gpus/discovery');
      const gpus = await discoverGpus(systemSources(await loadDawn()));
      console.log(opts.json ? JSON.stringify(gpus, null, 2) : describeGpus(gpus));
      // Dawn's instances keep the event loop alive.
      process.exit(process.exitCode ?? 0);
    });

  program
    .command('serve')
    .description('the app in a browser: the core, local workers and the web UI on http://127.0.0.1 until Ctrl+C')
    .option('--listen <addr>', 'interface the web UI listens on (loopback unless told)', '127.0.0.1')
    .option('--port <n>', 'port of the web UI (0: any free one)', nonNegativeInteger, 7340)
    .addOption(dataDir)
    .option('-w, --workers <n>', 'local worker processes to keep', nonNegativeInteger, 2)
    .addOption(modelBackend)
    .option(
      '--gpus <list>',
      'place local workers on these GPUs, e.g. 0,2 (default: every GPU; see sparselab gpus)',
      gpuList,
    )
    .option('--token <token>', 'the token browsers present (default: a random one per start)')
    .option('--hub-listen <addr>', 'interface the hub for workers listens on', '127.0.0.1')
    .option('--hub-port <n>', 'port of the hub for workers (0: any free one)', nonNegativeInteger, 0)
    .option('--no-open', 'do not open a browser')
    .action(
      async (
        opts: {
          listen: string;
          port: number;
          dataDir?: string;
          workers: number;
          backend: 'auto' | 'cpu' | 'webgpu';
          gpus?: number[];
          token?: string;
          hubListen: string;
          hubPort: number;
          open: boolean;
        },
        command: Command,
      ) => {
        if (opts.workers > 64) program.error('serve: --workers is at most 64');
        const { serve } = await import('../serve');
        // The default port may be taken (another SparseLab): then any free one; a port asked for must be that one.
        await serve({ ...opts, portFallback: command.getOptionValueSource('port') === 'default' });
        // Everything is closed; do not wait on anything a library left behind.
        process.exit(process.exitCode ?? 0);
      },
    );

  program
    .command('worker')
    .description('join a hub as a worker (on this machine or another); the token may come from $SPARSELAB_TOKEN')
    .requiredOption('--hub <url>', 'the hub address, e.g. ws://127.0.0.1:7341')
    .option('--token <token>', 'the hub token (default: $SPARSELAB_TOKEN)')
    .addOption(modelBackend)
    .option('--dump-dir <dir>', 'write u = g + e of rank 0 at the histogram iterations as .npy files here')
    .option(
      '--gpu <n>',
      'run on this GPU of this machine and no other (numbers from sparselab gpus)',
      nonNegativeInteger,
    )
    .action(
      async (opts: {
        hub: string;
        token?: string;
        backend: 'auto' | 'cpu' | 'webgpu';
        dumpDir?: string;
        gpu?: number;
      }) => {
        const token = opts.token ?? process.env.SPARSELAB_TOKEN;
        if (!token) throw new Error('worker: give --token or set SPARSELAB_TOKEN');
        const { runWorker } = await import('../../../gpu/worker/main');
        await runWorker({ hub: opts.hub, token, backend: opts.backend, dumpDir: opts.dumpDir, gpu: opts.gpu });
      },
    );

  return program;
}

export async function main(argv: string[]): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (error) {
    console.error(`sparselab: ${(error as Error).message}`);
    process.exitCode = 1;
  }
}
