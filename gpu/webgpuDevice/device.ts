/**
 * WebGPU device acquisition for SparseLab, in browsers (navigator.gpu) and in Node (the `webgpu`
 * package, Dawn for Node).
 *
 * What we found about Dawn for Node (`webgpu` 0.6.2) and software rendering on Linux:
 * - The package is not built with Dawn's bundled SwiftShader, so `forceFallbackAdapter` finds
 *   nothing by itself; Dawn's Vulkan backend only sees the ICDs the Vulkan loader reports.
 * - `create()` accepts `backend=...`, `adapter=...` and `enable/disable-dawn-features=...`, none of
 *   which tells the Vulkan loader where an ICD lives. The system's Mesa lavapipe ICD, when present,
 *   is rejected by Dawn ("Vulkan shaderUniform*ArrayDynamicIndexing required").
 * - The loader reads VK_ICD_FILENAMES (or its newer name VK_DRIVER_FILES) when Dawn creates a Vulkan
 *   instance, i.e. at each `create()`. Setting `process.env.VK_ICD_FILENAMES` inside the process
 *   before `create()` works, and so does a fresh `create()` after one that found no adapter.
 *   So when no adapter turns up, we point the loader at a SwiftShader ICD if one is installed
 *   (Debian/Ubuntu's `chromium` package ships /usr/lib/chromium/vk_swiftshader_icd.json) and retry.
 * - The loader's Wayland probing prints "XDG_RUNTIME_DIR is invalid" when that variable is unset;
 *   we set it to the temp directory in that case (harmless, it only silences the message).
 */

export interface GpuAdapterDescription {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
}

export interface AcquiredGpuDevice {
  device: GPUDevice;
  adapterInfo: GpuAdapterDescription;
  /** True for a CPU implementation (SwiftShader, lavapipe, WARP...): benchmarks should say so. */
  isSoftware: boolean;
}

export interface AcquireGpuDeviceOptions {
  powerPreference?: GPUPowerPreference;
  /** Passed to `create()` of the `webgpu` package in Node (e.g. 'backend=vulkan'). */
  dawnOptions?: string[];
  /**
   * In Node on Linux, when no adapter is found, retry with the Vulkan loader pointed at a
   * SwiftShader ICD file if one exists (default true). Never overrides a VK_ICD_FILENAMES the user set.
   */
  swiftShaderFallback?: boolean;
  /** Candidate SwiftShader ICD files, tried in order (defaults: Debian/Ubuntu chromium paths). */
  swiftShaderIcdPaths?: string[];
  /** Extra limits to request on top of the adapter's maxima that matter for the kernels. */
  requiredLimits?: Record<string, number>;
  /** Features to enable where the adapter has them (e.g. 'timestamp-query' for profiling). */
  optionalFeatures?: GPUFeatureName[];
  label?: string;
}

export const DEFAULT_SWIFTSHADER_ICD_PATHS = [
  '/usr/lib/chromium/vk_swiftshader_icd.json',
  '/usr/lib/chromium-browser/vk_swiftshader_icd.json',
  '/usr/lib64/chromium-browser/vk_swiftshader_icd.json',
  '/opt/google/chrome/vk_swiftshader_icd.json',
];

/** Limits requested at their adapter maxima, so 64M-float vectors fit where the adapter allows. */
const MAX_LIMITS = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupStorageSize',
  'maxStorageBuffersPerShaderStage',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupsPerDimension',
] as const;

export class NoGpuAdapterError extends Error {
  override name = 'NoGpuAdapterError';
}

/** Keeps the `create()` results that gave an adapter alive (Dawn shuts down when collected). */
const dawnInstances: GPU[] = [];

function isNode(): boolean {
  return typeof process !== 'undefined' && !!process.versions?.node && !('gpu' in (globalThis.navigator ?? {}));
}

/** An adapter's info as strings, empty where the implementation leaves one out. */
export function describeAdapterInfo(info: GPUAdapterInfo | undefined): GpuAdapterDescription {
  return {
    vendor: info?.vendor ?? '',
    architecture: info?.architecture ?? '',
    device: info?.device ?? '',
    description: info?.description ?? '',
  };
}

/** Names and descriptions of CPU implementations of WebGPU / Vulkan / D3D12. */
export const SOFTWARE_ADAPTER = /swiftshader|llvmpipe|lavapipe|softpipe|microsoft basic render|warp/i;

/** Whether the adapter is a CPU implementation. */
export function isSoftwareAdapter(info: GpuAdapterDescription, isFallbackAdapter = false): boolean {
  if (isFallbackAdapter) return true;
  return SOFTWARE_ADAPTER.test(`${info.vendor} ${info.architecture} ${info.device} ${info.description}`);
}

/** A one-line adapter name for reports, e.g. "google swiftshader (SwiftShader driver 5.0.0)". */
export function adapterName(info: GpuAdapterDescription): string {
  const head = [info.vendor, info.architecture].filter(Boolean).join(' ') || info.device || 'unknown GPU';
  return info.description ? `${head} (${info.description})` : head;
}

/** The `webgpu` package (Dawn for Node). */
export interface DawnModule {
  create: (flags: string[]) => GPU;
  globals: object;
}

/** The `webgpu` package, its classes (GPUBufferUsage, GPUMapMode...) made globals as in a browser. */
export async function loadDawn(): Promise<DawnModule> {
  // A variable specifier keeps bundlers from trying to bundle the native module.
  const specifier = 'webgpu';
  let dawn: DawnModule;
  try {
    dawn = (await import(/* @vite-ignore */ specifier)) as DawnModule;
  } catch (error) {
    throw new Error(`WebGPU in Node needs the "webgpu" package (Dawn): ${(error as Error).message}`, {
      cause: error,
    });
  }
  for (const [name, value] of Object.entries(dawn.globals)) {
    if (!(name in globalThis)) (globalThis as Record<string, unknown>)[name] = value;
  }
  return dawn;
}

async function nodeGpu(dawnOptions: string[]): Promise<GPU> {
  let dawn: DawnModule;
  try {
    dawn = await loadDawn();
  } catch (error) {
    throw new NoGpuAdapterError(`${(error as Error).message} (npm install webgpu)`, { cause: error });
  }
  return dawn.create(dawnOptions);
}

async function fileExists(path: string): Promise<boolean> {
  try {
    const fs = await import(/* @vite-ignore */ 'node:fs');
    return fs.existsSync(path);
  } catch {
    return false;
  }
}

function noAdapterMessage(node: boolean, triedIcd: string | null): string {
  if (!node) {
    return (
      'No WebGPU adapter: this browser exposes navigator.gpu but returned no adapter ' +
      '(WebGPU may be disabled, blocklisted for this GPU, or unavailable without a GPU).'
    );
  }
  const lines = ['No WebGPU adapter found by Dawn (the "webgpu" package).'];
  if (process.platform === 'linux') {
    lines.push(
      "On Linux Dawn uses Vulkan: install your GPU vendor's Vulkan driver (and libvulkan1).",
      'Without a GPU, use SwiftShader (a CPU Vulkan driver): on Debian/Ubuntu `apt install chromium libvulkan1`,',
      'then run with VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json (set automatically when that file exists).',
    );
    if (triedIcd) lines.push(`Retried with VK_ICD_FILENAMES=${triedIcd}: still no adapter.`);
    else if (process.env.VK_ICD_FILENAMES) lines.push(`VK_ICD_FILENAMES is set to ${process.env.VK_ICD_FILENAMES}.`);
  } else if (process.platform === 'darwin') {
    lines.push('On macOS Dawn uses Metal; check that this Mac supports Metal.');
  } else if (process.platform === 'win32') {
    lines.push('On Windows Dawn uses D3D12; update the GPU driver (WARP is used when none is present).');
  }
  return lines.join('\n');
}

async function requestAdapter(gpu: GPU, powerPreference: GPUPowerPreference | undefined): Promise<GPUAdapter | null> {
  const adapter = await gpu.requestAdapter(powerPreference ? { powerPreference } : {}).catch(() => null);
  if (adapter) dawnInstances.push(gpu);
  return adapter;
}

/**
 * Finds a WebGPU adapter and opens a device with the adapter's maximum buffer and workgroup
 * limits. In Node, falls back to SwiftShader when no adapter is found and its ICD is installed.
 */
export async function acquireGpuDevice(options: AcquireGpuDeviceOptions = {}): Promise<AcquiredGpuDevice> {
  const node = isNode();
  let adapter: GPUAdapter | null;
  let triedIcd: string | null = null;
  if (!node) {
    const gpu = (globalThis.navigator as Navigator | undefined)?.gpu;
    if (!gpu) {
      throw new NoGpuAdapterError(
        'WebGPU is not available: navigator.gpu is missing (use a browser with WebGPU, served over https or localhost).',
      );
    }
    adapter = await requestAdapter(gpu, options.powerPreference);
  } else {
    if (process.platform === 'linux' && !process.env.XDG_RUNTIME_DIR) {
      const os = await import(/* @vite-ignore */ 'node:os');
      process.env.XDG_RUNTIME_DIR = os.tmpdir();
    }
    const dawnOptions = options.dawnOptions ?? [];
    adapter = await requestAdapter(await nodeGpu(dawnOptions), options.powerPreference);
    const userSetIcd = !!(process.env.VK_ICD_FILENAMES || process.env.VK_DRIVER_FILES);
    if (!adapter && process.platform === 'linux' && options.swiftShaderFallback !== false && !userSetIcd) {
      for (const path of options.swiftShaderIcdPaths ?? DEFAULT_SWIFTSHADER_ICD_PATHS) {
        if (!(await fileExists(path))) continue;
        triedIcd = path;
        process.env.VK_ICD_FILENAMES = path;
        adapter = await requestAdapter(await nodeGpu(dawnOptions), options.powerPreference);
        if (adapter) break;
        delete process.env.VK_ICD_FILENAMES;
      }
    }
  }
  if (!adapter) throw new NoGpuAdapterError(noAdapterMessage(node, triedIcd));

  const requiredLimits: Record<string, number> = {};
  const limits = adapter.limits as unknown as Record<string, number>;
  for (const name of MAX_LIMITS) {
    const value = limits[name];
    if (typeof value === 'number') requiredLimits[name] = value;
  }
  Object.assign(requiredLimits, options.requiredLimits ?? {});
  const requiredFeatures = (options.optionalFeatures ?? []).filter((feature) => adapter.features.has(feature));
  const device = await adapter.requestDevice({
    label: options.label ?? 'sparselab',
    requiredLimits,
    requiredFeatures,
  });
  const info = adapter.info as GPUAdapterInfo & { isFallbackAdapter?: boolean };
  const adapterInfo = describeAdapterInfo(info);
  return { device, adapterInfo, isSoftware: isSoftwareAdapter(adapterInfo, info?.isFallbackAdapter === true) };
}
